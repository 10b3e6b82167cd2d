"""Swedish labels of the hälsoförfrågan's codes, defined once: questions (as the answer's
headings and as the case worker's choices), who may receive the answer, the interpreter's
language and the personnummer as people write it."""

from __future__ import annotations

from forms.halsoforfragan import FragaKod, Mottagarkategori, SamtyckeForm, Syfte, Titel

# Headings of the answer PDF and the REKO's pages.
QUESTION_LABELS: dict[FragaKod, str] = {
    FragaKod.AKTIVITETSFORMAGA: "Aktivitetsförmåga",
    FragaKod.BEGRANSNINGAR: "Begränsningar",
    FragaKod.BEHANDLING: "Behandling",
    FragaKod.PROGNOS: "Prognos",
    FragaKod.REKOMMENDATIONER: "Rekommendationer",
    FragaKod.SIP: "Samordnad individuell plan (SIP)",
    FragaKod.OVRIGT: "Övrigt",
}
# The same questions as the case worker chooses them in the web form.
QUESTION_CHOICES: dict[FragaKod, str] = {
    FragaKod.AKTIVITETSFORMAGA: "Aktivitetsförmåga",
    FragaKod.BEGRANSNINGAR: "Begränsningar",
    FragaKod.BEHANDLING: "Pågående eller planerad behandling",
    FragaKod.PROGNOS: "Prognos",
    FragaKod.REKOMMENDATIONER: "Rekommendationer",
    FragaKod.SIP: "Behov av samordnad individuell plan (SIP)",
    FragaKod.OVRIGT: "Övrigt (skriv frågan)",
}
RECIPIENT_LABELS: dict[Mottagarkategori, str] = {
    Mottagarkategori.SOCIALTJANST: "Socialtjänsten (EBB)",
    Mottagarkategori.ARBETSMARKNAD: "Arbetsmarknadsavdelningen (AMA)",
}
PURPOSE_LABELS: dict[Syfte, str] = {
    Syfte.PLANERING_ARBETE_STUDIER: "Planering mot arbete/studier",
    Syfte.SIP: "Samordnad individuell plan (SIP)",
}
CONSENT_FORM_LABELS: dict[SamtyckeForm, str] = {
    SamtyckeForm.SKRIFTLIGT: "Skriftligt", SamtyckeForm.MUNTLIGT: "Muntligt",
}
# The case worker's title as written in a statement.
TITLE_LABELS: dict[Titel, str] = {
    Titel.SOCIALSEKRETERARE: "socialsekreterare",
    Titel.ARBETSMARKNADSSEKRETERARE: "arbetsmarknadssekreterare",
}
# The case worker's title by the kind of their unit.
TITLE_OF_KIND: dict[Mottagarkategori, Titel] = {
    Mottagarkategori.SOCIALTJANST: Titel.SOCIALSEKRETERARE,
    Mottagarkategori.ARBETSMARKNAD: Titel.ARBETSMARKNADSSEKRETERARE,
}

# The interpreter's language (tolkbehov/@sprak, ISO 639-1) by its Swedish name: from Debian's
# iso-codes (iso_639-2, sv), with the names Swedish interpreter services use where they differ.
# Dari has no ISO 639-1 code of its own: it is written as Persian (fa).
LANGUAGE_LABELS: dict[str, str] = {
    "aa": "Afar", "ab": "Abchaziska", "ae": "Avestiska", "af": "Afrikaans", "ak": "Akan",
    "am": "Amhariska", "an": "Aragonska", "ar": "Arabiska", "as": "Assamesiska", "av": "Avariska",
    "ay": "Aymara", "az": "Azerbajdzjanska", "ba": "Basjkiriska", "be": "Vitryska",
    "bg": "Bulgariska", "bh": "Biharispråk", "bi": "Bislama", "bm": "Bambara", "bn": "Bengali",
    "bo": "Tibetanska", "br": "Bretonska", "bs": "Bosniska", "ca": "Katalanska",
    "ce": "Tjetjenska", "ch": "Chamorro", "co": "Korsikanska", "cr": "Cree", "cs": "Tjeckiska",
    "cu": "Kyrkslaviska", "cv": "Tjuvasjiska", "cy": "Kymriska", "da": "Danska", "de": "Tyska",
    "dv": "Divehi", "dz": "Dzongkha", "ee": "Ewe", "el": "Grekiska", "en": "Engelska",
    "eo": "Esperanto", "es": "Spanska", "et": "Estniska", "eu": "Baskiska",
    "fa": "Persiska (farsi, dari)", "ff": "Fulani", "fi": "Finska", "fj": "Fijianska",
    "fo": "Färöiska", "fr": "Franska", "fy": "Frisiska", "ga": "Iriska", "gd": "Skotsk gäliska",
    "gl": "Galiciska", "gn": "Guarani", "gu": "Gujarati", "gv": "Manx", "ha": "Haussa",
    "he": "Hebreiska", "hi": "Hindi", "ho": "Hiri motu", "hr": "Kroatiska", "ht": "Haitisk kreol",
    "hu": "Ungerska", "hy": "Armeniska", "hz": "Herero", "ia": "Interlingua", "id": "Indonesiska",
    "ie": "Interlingue", "ig": "Igbo", "ii": "Sichuan Yi", "ik": "Inupiaq", "io": "Ido",
    "is": "Isländska", "it": "Italienska", "iu": "Inuktitut", "ja": "Japanska", "jv": "Javanska",
    "ka": "Georgiska", "kg": "Kikongo", "ki": "Kikuyu", "kj": "Kuanyama", "kk": "Kazakiska",
    "kl": "Grönländska", "km": "Khmer", "kn": "Kanaresiska", "ko": "Koreanska", "kr": "Kanuri",
    "ks": "Kashmiri", "ku": "Kurdiska", "kv": "Komi", "kw": "Korniska", "ky": "Kirgisiska",
    "la": "Latin", "lb": "Luxemburgiska", "lg": "Luganda", "li": "Limburgiska", "ln": "Lingala",
    "lo": "Laotiska", "lt": "Litauiska", "lu": "Luba-Katanga", "lv": "Lettiska",
    "mg": "Malagassiska", "mh": "Marshallesiska", "mi": "Maori", "mk": "Makedonska",
    "ml": "Malayalam", "mn": "Mongoliska", "mr": "Marathi", "ms": "Malajiska", "mt": "Maltesiska",
    "my": "Burmesiska", "na": "Nauru", "nb": "Norska, bokmål", "nd": "Ndebele (Zimbabwe)",
    "ne": "Nepali", "ng": "Ndonga", "nl": "Nederländska", "nn": "Nynorsk", "no": "Norska",
    "nr": "Ndebele (Sydafrika)", "nv": "Navaho", "ny": "Nyanja", "oc": "Occitanska",
    "oj": "Ojibwa", "om": "Oromo", "or": "Oriya", "os": "Ossetiska", "pa": "Punjabi",
    "pi": "Pali", "pl": "Polska", "ps": "Pashto", "pt": "Portugisiska", "qu": "Quechua",
    "rm": "Rätoromanska", "rn": "Rundi", "ro": "Rumänska", "ru": "Ryska", "rw": "Rwanda",
    "sa": "Sanskrit", "sc": "Sardiska", "sd": "Sindhi", "se": "Nordsamiska", "sg": "Sango",
    "si": "Singalesiska", "sk": "Slovakiska", "sl": "Slovenska", "sm": "Samoanska", "sn": "Shona",
    "so": "Somaliska", "sq": "Albanska", "sr": "Serbiska", "ss": "Swazi", "st": "Sydsotho",
    "su": "Sundanesiska", "sv": "Svenska", "sw": "Swahili", "ta": "Tamil", "te": "Telugu",
    "tg": "Tadzjikiska", "th": "Thailändska", "ti": "Tigrinja", "tk": "Turkmeniska",
    "tl": "Tagalog", "tn": "Tswana", "to": "Tonganska", "tr": "Turkiska", "ts": "Tsonga",
    "tt": "Tatariska", "tw": "Twi", "ty": "Tahitiska", "ug": "Uiguriska", "uk": "Ukrainska",
    "ur": "Urdu", "uz": "Uzbekiska", "ve": "Venda", "vi": "Vietnamesiska", "vo": "Volapük",
    "wa": "Vallonska", "wo": "Wolof", "xh": "Xhosa", "yi": "Jiddisch", "yo": "Yoruba",
    "za": "Zhuang", "zh": "Kinesiska", "zu": "Zulu",
}
# Å, Ä, Ö sort after Z in Swedish (and in that order), not by code point.
_SWEDISH_ORDER = str.maketrans({"å": "z{", "ä": "z|", "ö": "z}", "é": "e"})


def language_label(code: str) -> str:
    """Return the language's Swedish name; an unknown code is shown as it came, marked."""
    return LANGUAGE_LABELS.get(code, f"Okänt språk ({code})")


def language_choices() -> list[tuple[str, str]]:
    """Return (code, Swedish name) for every ISO 639-1 language, in Swedish alphabetical order."""
    return sorted(LANGUAGE_LABELS.items(),
                  key=lambda item: item[1].lower().translate(_SWEDISH_ORDER))
