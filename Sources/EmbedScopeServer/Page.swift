import Foundation
import Hummingbird

/// The explorer page: HTML, CSS and JavaScript compiled into the binary; nothing is fetched
/// from anywhere but this server (the Content-Security-Policy says so to the browser too).
enum Page {
    static func response(_ text: String, type: String) -> Response {
        Response(status: .ok, headers: [.contentType: type, .cacheControl: "no-cache",
                                        .contentSecurityPolicy: "default-src 'self'; img-src 'self' blob: data:; style-src 'self'; script-src 'self'; connect-src 'self'"],
                 body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    static let html = """
    <!doctype html>
    <html lang="en">
    <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <title>EmbedScope</title>
    <link rel="icon" href="data:,">
    <link rel="stylesheet" href="/static/app.css">
    </head>
    <body>
    <header>
      <h1>EmbedScope</h1>
      <nav id="tabs">
        <button data-tab="overview" class="active">Overview</button>
        <button data-tab="explorer">Explorer</button>
        <button data-tab="prototypes">Prototypes</button>
        <button data-tab="evaluation">Evaluation</button>
        <button data-tab="upload">Query by image</button>
      </nav>
      <label class="picker">Index <select id="index"></select></label>
      <label class="picker">Space <select id="space"></select></label>
      <span id="status" role="status"></span>
    </header>
    <main>
    <section id="overview" class="tab active">
      <div id="cards" class="cards"></div>
      <h2>Comparison <small>click a header to sort; tick rows to compare per class</small></h2>
      <table id="compare" class="table"><thead></thead><tbody></tbody></table>
      <div id="perclass"></div>
    </section>
    <section id="explorer" class="tab">
      <div class="toolbar">
        <label>Projection <select id="method"><option value="pca">PCA</option><option value="lda">LDA</option></select></label>
        <label>Class <select id="classFilter"><option value="">all classes</option></select></label>
        <label>Path <input id="pathFilter" placeholder="filter by path text"></label>
        <label>Colour <select id="colorBy"><option value="class">by class</option><option value="predicted">by predicted class</option><option value="margin">by margin (top1 − top2)</option></select></label>
        <label id="colorSetLabel" class="hidden">of set <select id="colorSet"></select></label>
        <label>Drag <select id="selectMode"><option value="box">box select</option><option value="lasso">lasso select</option></select></label>
        <label>k <input id="kInput" type="number" min="1" max="100" value="8"></label><span id="kNote" class="hint"></span>
        <span id="axes"></span>
        <span id="shown" class="hint"></span>
      </div>
      <div class="split">
        <div class="plotwrap">
          <div class="stack">
            <canvas id="scatter" width="760" height="560"></canvas>
            <canvas id="overlay" width="760" height="560"></canvas>
            <div id="hover" class="hover hidden"><img alt=""><div class="cap"></div></div>
            <div id="plotMsg" class="plotmsg hidden" role="status"></div>
          </div>
          <div id="legend" class="legend"></div>
          <div id="selection" class="selection" data-count="0"></div>
        </div>
        <aside id="panel" class="panel"><p class="hint">Hover a point to see its image; click it for its neighbours.</p></aside>
      </div>
    </section>
    <section id="prototypes" class="tab">
      <div class="toolbar">
        <label>Set <select id="protoSet"></select></label>
        <label>Prototype <input id="protoName" list="protoNames" placeholder="type to search the set's names" autocomplete="off"></label><datalist id="protoNames"></datalist>
        <span id="protoCount" class="hint"></span>
        <label>k <input id="protoK" type="number" min="1" max="200" value="24"></label><span id="protoKNote" class="hint"></span>
      </div>
      <h3>Highest logit</h3><div id="protoMost" class="grid"></div>
      <h3>Lowest logit</h3><div id="protoLeast" class="grid"></div>
    </section>
    <section id="evaluation" class="tab">
      <div class="toolbar"><label>Set <select id="evalSet"></select></label><span id="evalSummary"></span></div>
      <div class="split">
        <div><p id="confusionNote" class="hint"></p><table id="confusion" class="confusion"></table><p class="hint">Rows: true class; columns: predicted. Click a cell for its images.</p></div>
        <aside id="cell" class="panel"></aside>
      </div>
      <h3>Lowest margins (likely mislabelled or hard)</h3><div id="lowest" class="grid"></div>
    </section>
    <section id="upload" class="tab">
      <div id="drop" class="drop">Drop a PNG or JPEG here, or <label class="filebtn">choose a file<input id="file" type="file" accept="image/png,image/jpeg"></label></div>
      <div id="uploadResults"></div>
    </section>
    </main>
    <script src="/static/app.js"></script>
    </body>
    </html>
    """

    static let style = """
    :root { --fg:#1d2330; --muted:#5f6b7a; --line:#d9dee5; --bg:#f6f7f9; --card:#fff; --accent:#2f6fdb; --same:#2e9d4f; --other:#d0433a; }
    * { box-sizing: border-box; }
    body { margin:0; font: 14px/1.4 "DejaVu Sans", system-ui, sans-serif; color: var(--fg); background: var(--bg); }
    header { display:flex; align-items:center; gap:14px; padding:8px 16px; background:#1d2330; color:#fff; flex-wrap:wrap; }
    header h1 { font-size:17px; margin:0 8px 0 0; letter-spacing:.3px; }
    nav button { background:none; border:0; color:#c9d2de; padding:6px 10px; font:inherit; cursor:pointer; border-radius:4px; }
    nav button.active, nav button:hover { background:#34405a; color:#fff; }
    .picker { color:#c9d2de; } .picker select { margin-left:4px; }
    #status { margin-left:auto; color:#ffd27a; font-size:12px; }
    main { padding: 12px 16px; }
    .tab { display:none; } .tab.active { display:block; overflow-x:auto; }
    select { max-width:240px; text-overflow:ellipsis; }
    h2 { font-size:16px; margin:18px 0 8px; } h2 small { color: var(--muted); font-weight:normal; font-size:12px; }
    h3 { font-size:14px; margin:14px 0 6px; }
    .cards { display:grid; grid-template-columns: repeat(auto-fill, minmax(260px, 1fr)); gap:10px; }
    .card { background:var(--card); border:1px solid var(--line); border-radius:6px; padding:10px 12px; cursor:pointer; }
    .card.selected { border-color: var(--accent); box-shadow: 0 0 0 2px #2f6fdb33; }
    .card h3 { margin:0 0 4px; font-size:15px; }
    .card dl { display:grid; grid-template-columns: auto 1fr; gap:1px 10px; margin:6px 0 0; font-size:12px; }
    .card dt { color: var(--muted); } .card dd { margin:0; font-variant-numeric: tabular-nums; }
    .table { border-collapse: collapse; background: var(--card); font-size:12px; }
    .table th, .table td { border-bottom:1px solid var(--line); padding:4px 8px; text-align:right; white-space:nowrap; }
    .table th { cursor:pointer; background:#eef1f5; position:sticky; top:0; }
    .table td:nth-child(-n+4), .table th:nth-child(-n+4) { text-align:left; }
    .table tr.selected td { background:#eaf1fd; }
    .toolbar { display:flex; gap:14px; align-items:center; flex-wrap:wrap; margin-bottom:8px; }
    .toolbar input[type=number] { width:60px; }
    #axes { color: var(--muted); font-size:12px; }
    .split { display:flex; flex-wrap:wrap; gap:14px; align-items:flex-start; }
    .plotwrap { position:relative; }
    .stack { position:relative; width:762px; height:562px; background:#fff; border:1px solid var(--line); border-radius:4px; }
    .stack canvas { display:block; position:absolute; left:0; top:0; }
    #overlay { cursor:crosshair; }
    .selection { max-width:762px; margin-top:8px; font-size:12px; }
    .selbar { display:flex; gap:10px; align-items:center; margin-bottom:4px; }
    .sellist { max-height:150px; overflow:auto; border:1px solid var(--line); border-radius:4px; }
    .table.sel { width:100%; } .table.sel tr { cursor:pointer; } .table.sel td:last-child { text-align:left; }
    .legend { display:flex; flex-wrap:wrap; gap:4px 10px; max-width:760px; max-height:240px; overflow-y:auto; margin-top:6px; font-size:12px; }
    .legend span { cursor:pointer; overflow-wrap:anywhere; } .legend i { display:inline-block; width:10px; height:10px; border-radius:50%; margin-right:4px; vertical-align:-1px; }
    .legend .off { opacity:.35; }
    .hover { position:absolute; pointer-events:none; background:#fff; border:1px solid var(--line); border-radius:4px; padding:4px; box-shadow:0 2px 8px #0002; font-size:11px; max-width:180px; }
    .hover .cap { overflow-wrap:anywhere; }
    .hover img { display:block; width:96px; height:96px; object-fit:contain; image-rendering: pixelated; background:#eee; }
    .hidden { display:none; }
    .plotmsg { position:absolute; left:40px; right:40px; top:200px; padding:14px 16px; background:#fffbea; border:1px solid #e8d48a; border-radius:6px; font-size:13px; overflow-wrap:anywhere; }
    .plotmsg b { display:block; margin-bottom:4px; } .plotmsg button { margin-top:8px; }
    #shown a, #kNote, #protoKNote { margin-left:4px; } #shown a { color: var(--accent); cursor:pointer; text-decoration:underline; }
    #protoName { width:260px; }
    .panel { flex:1; min-width:320px; background:var(--card); border:1px solid var(--line); border-radius:6px; padding:10px; max-height:80vh; overflow:auto; }
    .hint { color: var(--muted); font-size:12px; }
    .query { display:flex; gap:10px; align-items:flex-start; margin-bottom:6px; }
    /* Long class names and paths (70 characters, no spaces) wrap inside the panel: as flex and
       grid items they kept their text's width and the panel scrolled sideways. */
    .query > div { min-width:0; overflow-wrap:anywhere; }
    .panel h3, .panel p { overflow-wrap:anywhere; }
    .query img { width:112px; height:112px; object-fit:contain; image-rendering: pixelated; background:#eee; border-radius:3px; }
    .cols { display:grid; grid-template-columns: minmax(0, 1fr) minmax(0, 1fr); gap:8px; }
    .grid { display:flex; flex-wrap:wrap; gap:6px; }
    .tile { width:86px; font-size:10px; text-align:center; cursor:pointer; }
    .tile img { width:80px; height:80px; object-fit:contain; image-rendering: pixelated; background:#eee; border:3px solid #ccc; border-radius:3px; display:block; margin:0 auto; }
    .tile.same img { border-color: var(--same); } .tile.other img { border-color: var(--other); }
    .tile .c { overflow:hidden; text-overflow:ellipsis; white-space:nowrap; }
    .confusion { border-collapse: collapse; font-size:11px; }
    .confusion td, .confusion th { border:1px solid #fff; padding:3px 5px; text-align:center; min-width:34px; }
    .confusion td { cursor:pointer; } .confusion td.sel { outline:2px solid var(--fg); }
    .confusion th.rowh { text-align:right; } .confusion th.colh { writing-mode: vertical-rl; transform: rotate(180deg); max-height:120px; overflow:hidden; text-overflow:ellipsis; white-space:nowrap; }
    .drop { border:2px dashed #9aa7b8; border-radius:8px; padding:28px; text-align:center; background:#fff; color: var(--muted); }
    .drop.over { border-color: var(--accent); background:#eef4ff; }
    .filebtn { color: var(--accent); cursor:pointer; text-decoration: underline; } .filebtn input { display:none; }
    .table.bars td, .table.bars th { text-align:right; } .table.bars td:first-child, .table.bars th:first-child { text-align:left; }
    .bars { font-size:12px; border-collapse:collapse; } .bars td { padding:2px 6px; } .delta.up { color: var(--same); } .delta.down { color: var(--other); }
    .err { color: var(--other); }
    """

    static let script = PageScript.source
}
