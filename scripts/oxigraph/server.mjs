// SPARQL 1.1 Protocol shim over the in-memory Oxigraph store (npm "oxigraph"),
// for streamkit's sink integration tests. Loopback only.
//
//   GET  /sparql?query=...                       query
//   POST /sparql  application/x-www-form-urlencoded  query= | update=
//   POST /sparql  application/sparql-query           raw query body
//   POST /sparql  application/sparql-update          raw update body
//   GET  /health                                  200 "ok"
//
// Every update request runs through Store.update, which applies the whole
// request atomically (all operations or none). Results: SPARQL JSON by default,
// XML/CSV/TSV when asked by Accept; CONSTRUCT/DESCRIBE as N-Triples or Turtle.
// A request the store refuses (syntax or evaluation error) answers 400 with the
// error text; an unsupported method or content type answers 405/415.
//
// DUMP_FILE (optional) makes the store survive a clean restart, as a real
// store's disk does: the store is loaded from that N-Quads file at start
// when it exists, and written to it on SIGTERM or SIGINT before exiting.
import fs from "node:fs";
import http from "node:http";
import oxigraph from "oxigraph";

const store = new oxigraph.Store();
const dumpFile = process.env.DUMP_FILE || "";
if (dumpFile && fs.existsSync(dumpFile)) {
  store.load(fs.readFileSync(dumpFile, "utf8"), { format: "application/n-quads" });
  console.log(`loaded ${store.size} quads from ${dumpFile}`);
}
const port = Number(process.env.PORT || 7878);
const host = process.env.HOST || "127.0.0.1";
const maxBody = Number(process.env.MAX_BODY_BYTES || 256 * 1024 * 1024);

function pickFormat(accept, isGraph) {
  accept = accept || "";
  if (isGraph) return accept.includes("turtle") ? ["text/turtle", "ttl"] : ["application/n-triples", "nt"];
  if (accept.includes("sparql-results+xml")) return ["application/sparql-results+xml", "xml"];
  if (accept.includes("text/csv")) return ["text/csv", "csv"];
  if (accept.includes("tab-separated")) return ["text/tab-separated-values", "tsv"];
  return ["application/sparql-results+json", "json"];
}

function send(res, status, type, body) {
  const headers = type ? { "Content-Type": type } : {};
  res.writeHead(status, headers);
  res.end(body);
}

const server = http.createServer((req, res) => {
  const chunks = [];
  let size = 0;
  let tooBig = false;
  req.on("data", (c) => {
    size += c.length;
    if (size > maxBody) { tooBig = true; return; }
    chunks.push(c);
  });
  req.on("end", () => {
    const url = new URL(req.url, "http://127.0.0.1");
    if (url.pathname === "/health") { send(res, 200, "text/plain", "ok\n"); return; }
    if (url.pathname !== "/sparql") { send(res, 404, "text/plain", "not found\n"); return; }
    if (tooBig) { send(res, 413, "text/plain", "request body too large\n"); return; }
    const body = Buffer.concat(chunks).toString("utf8");
    const ct = (req.headers["content-type"] || "").split(";")[0].trim().toLowerCase();
    let query = url.searchParams.get("query"), update = null;
    if (req.method === "POST") {
      if (ct === "application/x-www-form-urlencoded") {
        const f = new URLSearchParams(body);
        query = f.get("query"); update = f.get("update");
      } else if (ct === "application/sparql-query") query = body;
      else if (ct === "application/sparql-update") update = body;
      else { send(res, 415, "text/plain", `unsupported content type ${ct}\n`); return; }
    } else if (req.method !== "GET") {
      send(res, 405, "text/plain", "method not allowed\n"); return;
    }
    try {
      if (update != null) {
        store.update(update); // whole request applied atomically, or not at all
        res.writeHead(204).end();
      } else if (query != null) {
        const isGraph = /^\s*(PREFIX[^\n]*\n\s*)*(CONSTRUCT|DESCRIBE)/i.test(query);
        const [mime, fmt] = pickFormat(req.headers.accept, isGraph);
        const out = store.query(query, { results_format: fmt });
        send(res, 200, mime + "; charset=utf-8", out);
      } else {
        send(res, 400, "text/plain", "missing query or update\n");
      }
    } catch (e) {
      send(res, 400, "text/plain; charset=utf-8", String(e) + "\n");
    }
  });
});
server.listen(port, host, () => console.log(`oxigraph shim on http://${host}:${port}/sparql`));

function shutdown(sig) {
  server.close();
  server.closeAllConnections();
  if (dumpFile) {
    fs.writeFileSync(dumpFile + ".tmp", store.dump({ format: "application/n-quads" }));
    fs.renameSync(dumpFile + ".tmp", dumpFile);
    console.log(`${sig}: dumped ${store.size} quads to ${dumpFile}`);
  }
  process.exit(0);
}
process.on("SIGTERM", () => shutdown("SIGTERM"));
process.on("SIGINT", () => shutdown("SIGINT"));
