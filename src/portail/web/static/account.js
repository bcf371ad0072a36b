// "My account": the copy button next to a new API key (shown once). Without clipboard
// permission the key is selected, for Ctrl+C. Revoking and signing out everywhere ask first.
// The page answering a key's creation takes the page's address, so that reloading it shows
// the page instead of posting the form again (a second key).
(function () {
  document.querySelectorAll("form[data-confirm]").forEach((form) => {
    form.addEventListener("submit", (event) => {
      if (!window.confirm(form.dataset.confirm)) event.preventDefault();
    });
  });
  if (document.getElementById("new-key")) {
    const page = new URL(window.location.href);
    page.pathname = page.pathname.replace(/\/apikeys$/, "");
    window.history.replaceState(null, "", page.toString());
  }
})();
(function () {
  const field = document.getElementById("new-key");
  const button = document.getElementById("copy-key");
  if (!field || !button) return;
  button.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(field.value);
      button.textContent = button.dataset.copied;
    } catch (error) {
      field.select();
    }
  });
})();
