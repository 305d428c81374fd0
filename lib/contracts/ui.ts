/*
 * The page that renders a service's AsyncAPI document in a browser, with the
 * AsyncAPI React component loaded from a CDN (or wherever the `asyncapi.ui`
 * option says): nothing of it ships with the plugin.
 */

/** HTML-escapes text for an attribute or an element. */
function escape (text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)
}

/** @internal The page at `path`: it fetches `<path>.json` and renders it. */
export function asyncApiPage (o: { title: string, jsonUrl: string, script: string, stylesheet: string }): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escape(o.title)}: AsyncAPI</title>
<link rel="stylesheet" href="${escape(o.stylesheet)}">
</head>
<body>
<div id="asyncapi"><noscript>The document is at <a href="${escape(o.jsonUrl)}">${escape(o.jsonUrl)}</a>.</noscript></div>
<script src="${escape(o.script)}"></script>
<script>
  fetch(${JSON.stringify(o.jsonUrl).replace(/</g, '\\u003c')})
    .then((res) => res.json())
    .then((schema) => AsyncApiStandalone.render({ schema, config: { show: { sidebar: true, errors: true } } }, document.getElementById('asyncapi')))
    .catch((err) => { document.getElementById('asyncapi').textContent = 'Could not load the AsyncAPI document: ' + err })
</script>
</body>
</html>
`
}
