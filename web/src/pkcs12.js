// Opening the REKO's PKCS#12 in the browser: its certificates and its private key, imported into
// WebCrypto as non-extractable. Nothing here sends anything anywhere.
import * as pkijs from "pkijs";

const KEY_BAG = "1.2.840.113549.1.12.10.1.2"; // pkcs8ShroudedKeyBag
const CERT_BAG = "1.2.840.113549.1.12.10.1.3"; // certBag
const X509_CERTIFICATE = "1.2.840.113549.1.9.22.1";
export const ALGORITHM = { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" };

export class Pkcs12Error extends Error {}

function utf8(text) {
  return new TextEncoder().encode(text).buffer;
}

// Returns { chain: [DER of the key's certificate, then the others], key: CryptoKey }.
export async function openPkcs12(fileBytes, passphrase) {
  if (!passphrase) throw new Pkcs12Error("Ange lösenordet till din e-legitimation.");
  const password = utf8(passphrase);
  let pfx;
  try {
    pfx = pkijs.PFX.fromBER(fileBytes);
  } catch (e) {
    throw new Pkcs12Error("Filen är inte en e-legitimation (PKCS#12, .p12).");
  }
  try {
    await pfx.parseInternalValues({ password, checkIntegrity: true });
    const safe = pfx.parsedValue.authenticatedSafe;
    await safe.parseInternalValues({ safeContents: safe.safeContents.map(() => ({ password })) });
    const certificates = [];
    let keyInfo = null;
    for (const contents of safe.parsedValue.safeContents) {
      for (const bag of contents.value.safeBags) {
        if (bag.bagId === KEY_BAG) {
          await bag.bagValue.parseInternalValues({ password });
          keyInfo = bag.bagValue.parsedValue;
        } else if (bag.bagId === CERT_BAG && bag.bagValue.certId === X509_CERTIFICATE) {
          certificates.push(bag.bagValue.parsedValue);
        }
      }
    }
    return await keyAndChain(keyInfo, certificates);
  } catch (e) {
    if (e instanceof Pkcs12Error) throw e;
    throw new Pkcs12Error("Fel lösenord, eller så är filen inte en giltig e-legitimation.");
  }
}

async function keyAndChain(keyInfo, certificates) {
  if (!keyInfo || !certificates.length) {
    throw new Pkcs12Error("E-legitimationen saknar nyckel eller certifikat.");
  }
  const pkcs8 = keyInfo.toSchema().toBER(false);
  // Extractable only for the moment it takes to find its certificate by the modulus.
  const probe = await crypto.subtle.importKey("pkcs8", pkcs8, ALGORITHM, true, ["sign"]);
  const modulus = (await crypto.subtle.exportKey("jwk", probe)).n;
  let own = null;
  for (const certificate of certificates) {
    const spki = certificate.subjectPublicKeyInfo.toSchema().toBER(false);
    const publicKey = await crypto.subtle.importKey("spki", spki, ALGORITHM, true, ["verify"]);
    if ((await crypto.subtle.exportKey("jwk", publicKey)).n === modulus) own = certificate;
  }
  if (!own) throw new Pkcs12Error("E-legitimationens nyckel hör inte till något av dess certifikat.");
  const key = await crypto.subtle.importKey("pkcs8", pkcs8, ALGORITHM, false, ["sign"]);
  const others = certificates.filter((c) => c !== own);
  const chain = [own, ...others].map((c) => new Uint8Array(c.toSchema().toBER(false)));
  return { chain, key };
}

export async function signBytes(key, bytes) {
  return new Uint8Array(await crypto.subtle.sign(ALGORITHM, key, bytes));
}
