/* Passkeys and security keys (WebAuthn). A form marked data-passkey="create" (set one up) or
   "get" (sign in with one) carries the server's options as JSON in data-options. Its button runs
   the browser's ceremony, puts the answer (JSON) in the form's "credential" field and sends the
   form, with htmx when the form has hx-post. The form is hidden until this script shows it: with
   JavaScript off, or in a browser without passkeys, a code is the way in. */
(function () {
  "use strict";
  function supported() {
    return !!(window.PublicKeyCredential && PublicKeyCredential.parseCreationOptionsFromJSON &&
      PublicKeyCredential.parseRequestOptionsFromJSON);
  }
  function wire(form) {
    if (form.getAttribute("data-wired")) { return; }
    form.setAttribute("data-wired", "1");
    if (!supported()) { return; }
    var button = form.querySelector("[data-passkey-start]");
    var status = form.querySelector(".passkey-status");
    var creating = form.getAttribute("data-passkey") === "create";
    form.hidden = false;
    button.addEventListener("click", function () {
      var options = JSON.parse(form.getAttribute("data-options"));
      var ceremony = creating
        ? navigator.credentials.create({ publicKey: PublicKeyCredential.parseCreationOptionsFromJSON(options) })
        : navigator.credentials.get({ publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(options) });
      button.disabled = true;
      status.textContent = "Follow your browser's instructions to use your passkey.";
      ceremony.then(function (credential) {
        form.querySelector("input[name=credential]").value = JSON.stringify(credential.toJSON());
        status.textContent = "Checking your passkey.";
        form.requestSubmit();
      }).catch(function () {
        status.textContent = "Your passkey was not used. Try again" + (creating ? "." : ", or enter a code instead.");
      }).finally(function () {
        button.disabled = false;
      });
    });
  }
  function enhance(event) {
    var root = (event && event.detail && event.detail.elt) || document;
    if (root.matches && root.matches("form[data-passkey]")) { wire(root); }
    root.querySelectorAll("form[data-passkey]").forEach(wire);
  }
  document.addEventListener("htmx:load", enhance);
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", enhance);
  } else {
    enhance();
  }
}());
