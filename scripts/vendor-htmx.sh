#!/usr/bin/env bash
# Re-fetches the web UI's vendored htmx and its SSE extension from npm into
# internal/web/static, minified, with the version in the file name and the
# licence beside it. Bump the versions here, run it, fix the templates'
# script names (internal/web/templates/layout.html) and commit the result.
set -euo pipefail
HTMX=2.0.11
SSE=2.2.4
root=$(cd "$(dirname "$0")/.." && pwd)
dst=$root/internal/web/static
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
npm pack --silent "htmx.org@$HTMX" "htmx-ext-sse@$SSE" >/dev/null
mkdir htmx sse
tar -xzf "htmx.org-$HTMX.tgz" -C htmx
tar -xzf "htmx-ext-sse-$SSE.tgz" -C sse
rm -f "$dst"/htmx-*.min.js "$dst"/htmx-ext-sse-*.js
cp htmx/package/dist/htmx.min.js "$dst/htmx-$HTMX.min.js"
cp htmx/package/LICENSE "$dst/htmx.LICENSE"
cp sse/package/dist/sse.min.js "$dst/htmx-ext-sse-$SSE.min.js" 2>/dev/null || cp sse/package/sse.js "$dst/htmx-ext-sse-$SSE.js"
cp sse/package/LICENSE "$dst/htmx-ext-sse.LICENSE" 2>/dev/null || cp htmx/package/LICENSE "$dst/htmx-ext-sse.LICENSE"
ls -l "$dst"
