// Keyboard use of the queue: j / k move between entries, "/" jumps to the filters. Everything else is
// plain links and forms, usable with Tab and Enter.
document.addEventListener("keydown", (event) => {
  const target = event.target;
  if (event.ctrlKey || event.metaKey || event.altKey || target.closest("input, select, textarea")) return;
  const links = Array.from(document.querySelectorAll("a.entry-link"));
  if (event.key === "/") {
    const first = document.querySelector(".filters select, .filters input");
    if (first) { event.preventDefault(); first.focus(); }
    return;
  }
  if (!links.length || (event.key !== "j" && event.key !== "k")) return;
  const at = links.indexOf(document.activeElement);
  const next = event.key === "j" ? Math.min(at + 1, links.length - 1) : Math.max(at - 1, 0);
  event.preventDefault();
  links[at === -1 ? 0 : next].focus();
});
