// The pages are thin clients of the JSON API: each form posts to an /api/v1/auth route.
// Served from the service itself: the pages' Content-Security-Policy runs no inline script.
// Words come from the page (a JSON block rendered from the catalogue, in the page's language).
"use strict";

const body = document.body;
const api = body.dataset.api;
const messages = JSON.parse(document.getElementById("page-messages").textContent);

function say(key, values) {
  let text = messages[key] || messages["error.unknown"];
  for (const [name, value] of Object.entries(values || {})) {
    text = text.split("{" + name + "}").join(value);
  }
  return text;
}

function show(text, isError) {
  const box = document.getElementById("message");
  box.textContent = text;
  box.className = isError ? "message error" : "message";
  box.setAttribute("role", isError ? "alert" : "status");
}

// The service's error code → words a person understands, in the page's language.
async function explain(response) {
  let code = "";
  try {
    const answer = await response.json();
    const detail = answer.detail;
    code = (detail && typeof detail === "object" && detail.code) || answer.code || "";
    if (typeof detail === "string" && messages["error." + detail]) code = detail;
  } catch (error) {
    code = "";
  }
  if (response.status === 429) code = "RATE_LIMITED";
  return say("error." + code, { minimum: body.dataset.passwordMinLength || "" });
}

async function postJson(url, data) {
  return fetch(url, {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(data),
  });
}

// Runs `action`; a network failure becomes a message instead of a silent page.
async function guarded(action) {
  try {
    await action();
  } catch (error) {
    show(say("error.network"), true);
  }
}

function onSubmit(id, handler) {
  const form = document.getElementById(id);
  if (!form) return;
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    guarded(() => handler(form, event.submitter));
  });
}

document.querySelectorAll("a.provider").forEach((link) => {
  link.addEventListener("click", (event) => {
    // The authorize route answers JSON and sets the CSRF cookie; then go to the provider.
    event.preventDefault();
    guarded(async () => {
      const response = await fetch(link.href, { credentials: "same-origin" });
      if (!response.ok) { show(await explain(response), true); return; }
      window.location.assign((await response.json()).authorization_url);
    });
  });
});

onSubmit("password-signin", async (form, submitter) => {
  const email = form.elements.username.value.trim();
  const password = form.elements.password.value;
  const action = submitter ? submitter.value : "signin";
  if (action === "forgot") {
    if (!email) { show(say("error.email_required"), true); form.elements.username.focus(); return; }
    const response = await postJson(api + "/forgot-password", { email });
    if (response.ok) show(say("status.reset_sent", { email }));
    else show(await explain(response), true);
    return;
  }
  if (action === "register") {
    const response = await postJson(api + "/register", { email, password });
    if (!response.ok) { show(await explain(response), true); return; }
  }
  // getAttribute: the form's buttons are named "action", which shadows form.action.
  const response = await fetch(form.getAttribute("action"), {
    method: "POST",
    credentials: "same-origin",
    body: new URLSearchParams({ username: email, password }),
  });
  if (response.ok) window.location.reload();
  else show(await explain(response), true);
});

onSubmit("resend-verification", async (form) => {
  const email = form.elements.email.value;
  const response = await postJson(api + "/request-verify-token", { email });
  if (response.ok) show(say("status.verify_sent", { email }));
  else show(await explain(response), true);
});

onSubmit("signout", async (form) => {
  await fetch(form.getAttribute("action"), { method: "POST", credentials: "same-origin" });
  window.location.reload();
});

onSubmit("verify", async (form) => {
  const response = await postJson(api + "/verify", { token: form.elements.token.value });
  if (response.ok) { show(say("status.verified")); form.hidden = true; }
  else show(await explain(response), true);
});

onSubmit("reset", async (form) => {
  const response = await postJson(api + "/reset-password", {
    token: form.elements.token.value,
    password: form.elements.password.value,
  });
  if (response.ok) { show(say("status.password_changed")); form.hidden = true; }
  else show(await explain(response), true);
});
