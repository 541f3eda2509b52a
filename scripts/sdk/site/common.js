// Shared by the test pages: the person (person.js, written from person.json at build time) and
// a way for the driver to know the page is done calling its SDK.
window.sdkDone = new Promise((resolve) => { window.markDone = resolve; });
// A site that remembers who logged in, as many do: a first-party cookie with the email, next
// to the HttpOnly session cookie the server set with the page. Both reach any route on this
// origin, vendor routes included.
document.cookie = 'last_login=' + encodeURIComponent(PERSON.email) + '; path=/; SameSite=Lax';
