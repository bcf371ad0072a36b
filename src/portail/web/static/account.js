// "My account": the copy button next to a new API key (shown once). Without clipboard
// permission the key is selected, for Ctrl+C.
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
