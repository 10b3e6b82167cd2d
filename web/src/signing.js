// The composer's signing step: open the REKO's PKCS#12 here, send the server only the
// certificate chain, sign the bytes it prepared with WebCrypto, and send the answer with the
// signature value. The file and the passphrase never leave this page.
import { openPkcs12, Pkcs12Error, signBytes } from "./pkcs12.js";

function base64(bytes) {
  let text = "";
  for (const byte of bytes) text += String.fromCharCode(byte);
  return btoa(text);
}

function unbase64(text) {
  return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
}

function showError(box, title, details) {
  box.replaceChildren();
  const heading = document.createElement("h3");
  heading.textContent = title;
  box.append(heading);
  for (const detail of details) {
    const line = document.createElement("p");
    line.textContent = detail;
    box.append(line);
  }
  box.hidden = false;
  box.focus();
}

async function prepare(form, section, chain) {
  const body = new FormData(form);
  body.delete("action");
  for (const certificate of chain) body.append("kedja", base64(certificate));
  const response = await fetch(section.dataset.prepareUrl, {
    method: "POST",
    body,
    credentials: "same-origin",
    headers: { "X-CSRFToken": form.elements.csrf_token.value, Accept: "application/json" },
  });
  const type = response.headers.get("Content-Type") || "";
  if (type.includes("json")) {
    const data = await response.json();
    if (response.ok) return data;
    const issues = (data.eventIssues || []).map((i) => `${i.typeCode}: ${i.detail || i.title}`);
    throw new Pkcs12Error(data.title, { cause: issues });
  }
  throw new Pkcs12Error(`Servern svarade ${response.status}. Ladda om sidan och försök igen.`);
}

async function signAndSend(form, section) {
  const box = document.getElementById("signera-fel");
  const status = document.getElementById("signera-status");
  const file = document.getElementById("p12").files[0];
  const passphrase = document.getElementById("passphrase");
  box.hidden = true;
  if (!form.reportValidity()) return;
  if (!file) {
    showError(box, "Välj din e-legitimation", ["Välj PKCS#12-filen (.p12) att signera med."]);
    return;
  }
  try {
    status.textContent = "Öppnar e-legitimationen …";
    const { chain, key } = await openPkcs12(await file.arrayBuffer(), passphrase.value);
    status.textContent = "Förbereder svaret …";
    const prepared = await prepare(form, section, chain);
    status.textContent = "Signerar …";
    const value = await signBytes(key, unbase64(prepared.to_sign));
    document.getElementById("signatur_id").value = prepared.id;
    document.getElementById("signatur").value = base64(value);
    passphrase.value = "";
    status.textContent = "Skickar svaret …";
    const action = document.createElement("input");
    action.type = "hidden";
    action.name = "action";
    action.value = "finish";
    form.append(action);
    form.submit();
  } catch (error) {
    status.textContent = "";
    const details = error instanceof Pkcs12Error ? error.cause || [] : [String(error)];
    const title = error instanceof Pkcs12Error ? error.message : "Signeringen misslyckades";
    showError(box, title, details);
  }
}

function start() {
  const form = document.getElementById("composer");
  const section = document.getElementById("signera");
  if (!form || !section || !window.crypto || !window.crypto.subtle) return;
  section.hidden = false;
  document.getElementById("utan-javascript").hidden = true;
  document.getElementById("signera-knapp").addEventListener("click", () => {
    signAndSend(form, section);
  });
}

start();
