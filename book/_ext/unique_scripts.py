"""Sphinx extension: drop repeated <script> entries from each page.

sphinx-thebe 0.3.1 registers its inline configuration script on every `env-before-read-docs` event, so a build that
reads documents more than once puts `const THEBE_JS_URL = ...` on the page twice and the browser reports
"Identifier 'THEBE_JS_URL' has already been declared". Keeping the first copy of each identical script fixes it
(an inline script has filename None or "", which count as the same).
"""


def _script_key(script) -> tuple:
    attributes = getattr(script, "attributes", {}) or {}
    return str(getattr(script, "filename", script) or ""), tuple(sorted((k, str(v)) for k, v in attributes.items()))


def remove_repeated_scripts(app, pagename, templatename, context, doctree) -> None:
    seen, unique = set(), []
    for script in context.get("script_files", []):
        key = _script_key(script)
        if key not in seen:
            seen.add(key)
            unique.append(script)
    context["script_files"] = unique


def setup(app):
    app.connect("html-page-context", remove_repeated_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
