"""Swedish labels of the hälsoförfrågan's codes, defined once: questions (as the answer's
headings and as the case worker's choices) and who may receive the answer."""

from __future__ import annotations

from forms.halsoforfragan import FragaKod, Mottagarkategori, Titel

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
