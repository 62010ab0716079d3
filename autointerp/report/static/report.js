// Draws the latent cards from the embedded JSON, a page at a time; sorting, filtering, search.
// All run text goes in through textContent, never innerHTML: explanations and tokens are untrusted.
(function () {
  "use strict";
  var PAGE_SIZE = 25;  // a card holds up to ~1,000 token spans: keep each page quick to draw
  var SVG_NS = "http://www.w3.org/2000/svg";
  var errorBox = document.getElementById("errors");

  function reportError(message) {
    errorBox.hidden = false;
    errorBox.appendChild(el("div", "", "Report error: " + message));
  }
  window.addEventListener("error", function (e) { reportError(e.message); });

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function fmt(x, digits) {
    if (x === null || x === undefined || typeof x !== "number") return "–";
    if (x === 0) return "0";
    return Math.abs(x) < 1e-3 ? x.toExponential(2) : String(Number(x.toPrecision(digits || 3)));
  }

  var data = JSON.parse(document.getElementById("report-data").textContent);
  var cards = data.latents;

  // ---- sort keys: latent order, firing rate, max activation, then every scorer metric ----
  var keys = [
    { id: "latent", label: "hookpoint, index", get: function () { return 0; } },
    { id: "fr", label: "firing rate", get: function (c) { return c.fr; } },
    { id: "max", label: "max activation", get: function (c) { return c.max; } }
  ];
  data.scorers.forEach(function (scorer) {
    var metrics = [], primary = {};
    cards.forEach(function (c) {
      var s = c.sc[scorer];
      if (!s) return;
      if (s.p) primary[s.p] = (primary[s.p] || 0) + 1;
      Object.keys(s.m).forEach(function (m) { if (metrics.indexOf(m) < 0) metrics.push(m); });
    });
    metrics.sort(function (a, b) { return (primary[b] || 0) - (primary[a] || 0); });
    metrics.forEach(function (m) {
      keys.push({ id: "score:" + scorer + ":" + m, label: scorer + " " + m, get: function (c) {
        var s = c.sc[scorer];
        return s && typeof s.m[m] === "number" ? s.m[m] : null;
      } });
    });
  });
  var keyById = {};
  keys.forEach(function (k) { keyById[k.id] = k; });

  var state = { key: keys.length > 3 ? keys[3].id : "latent", desc: keys.length > 3, hp: "", min: null,
                query: "", failed: false, page: 0 };
  var view = [];

  function compareLatent(a, b) {
    return a.hp < b.hp ? -1 : a.hp > b.hp ? 1 : a.i - b.i;
  }

  function ordered() {
    var key = keyById[state.key], sign = state.desc ? -1 : 1, q = state.query.toLowerCase();
    var exact = q && cards.some(function (c) { return (c.hp + "/" + c.i).toLowerCase() === q; });
    var out = cards.filter(function (c) {
      if (state.hp && c.hp !== state.hp) return false;
      if (state.failed && !c.err) return false;
      if (state.min !== null && state.key !== "latent") {
        var v = key.get(c);
        if (v === null || v === undefined || v < state.min) return false;
      }
      if (exact) return (c.hp + "/" + c.i).toLowerCase() === q;  // a latent's id picks that latent only
      if (q) {
        var hay = ((c.x || "") + " " + (c.err || "") + " " + c.hp + "/" + c.i).toLowerCase();
        if (hay.indexOf(q) < 0) return false;
      }
      return true;
    });
    out.sort(function (a, b) {
      if (state.key === "latent") return sign * compareLatent(a, b);
      var va = key.get(a), vb = key.get(b);
      var na = va === null || va === undefined, nb = vb === null || vb === undefined;
      if (na || nb) return na === nb ? compareLatent(a, b) : na ? 1 : -1;  // missing values last
      return va === vb ? compareLatent(a, b) : sign * (va - vb);
    });
    return out;
  }

  // ---- one card ----
  function histogram(h) {
    var svg = document.createElementNS(SVG_NS, "svg");
    svg.setAttribute("class", "hist");
    svg.setAttribute("viewBox", "0 0 220 90");
    var top = Math.max.apply(null, h.counts.concat([1])), w = 220 / Math.max(h.counts.length, 1);
    h.counts.forEach(function (n, b) {
      var r = document.createElementNS(SVG_NS, "rect"), height = n / top * 72;
      r.setAttribute("x", (b * w + 1).toFixed(1));
      r.setAttribute("y", (76 - height).toFixed(1));
      r.setAttribute("width", (w - 2).toFixed(1));
      r.setAttribute("height", height.toFixed(1));
      r.setAttribute("fill", "rgb(249,115,22)");
      var t = document.createElementNS(SVG_NS, "title");
      var lo = h.lo + (h.hi - h.lo) * b / h.counts.length, hi = h.lo + (h.hi - h.lo) * (b + 1) / h.counts.length;
      t.textContent = n + " tokens with activation in [" + fmt(lo) + ", " + fmt(hi) + ")";
      r.appendChild(t);
      svg.appendChild(r);
    });
    [[0, "start", h.lo], [220, "end", h.hi]].forEach(function (a) {
      var t = document.createElementNS(SVG_NS, "text");
      t.setAttribute("x", a[0]); t.setAttribute("y", 88); t.setAttribute("text-anchor", a[1]);
      t.setAttribute("font-size", "10"); t.setAttribute("fill", "#6b7280");
      t.textContent = fmt(a[2]);
      svg.appendChild(t);
    });
    return svg;
  }

  var KIND = { missed: "missed", "false": "false alarm", unparsed: "unparsed" };

  function example(ex, scale) {
    var row = el("div", "ex");
    var where = ex.k + (ex.q !== null && ex.q !== undefined ? " q" + ex.q : "") + " · row " + ex.r + ":" + ex.s;
    row.appendChild(el("span", "where", where));
    ex.t.forEach(function (text, j) {
      var tok = el("span", "tok", text.replace(/\n/g, "↵"));
      var a = ex.a ? ex.a[j] : 0;
      if (a > 0 && scale > 0) tok.style.backgroundColor = "rgba(249,115,22," + Math.min(1, a / scale).toFixed(3) + ")";
      tok.title = JSON.stringify(text) + "  activation " + (ex.a ? fmt(a, 4) : "0");
      row.appendChild(tok);
    });
    if (ex.w) {
      row.classList.add("wrong");
      Object.keys(ex.w).forEach(function (scorer) {
        row.appendChild(el("span", "mark", "✗ " + scorer + " " + KIND[ex.w[scorer]]));
      });
    }
    return row;
  }

  function examples(parent, title, list, scale) {
    if (title) parent.appendChild(el("div", "ex-title", title));
    list.forEach(function (ex) { parent.appendChild(example(ex, scale)); });
  }

  function scoreChips(c) {
    var chips = el("div", "chips");
    data.scorers.forEach(function (scorer) {
      var s = c.sc[scorer];
      if (!s) return;
      if (s.err) { chips.appendChild(el("span", "chip err", scorer + ": " + s.err)); return; }
      var chip = el("span", "chip", scorer + " " + (s.p || "") + " ");
      chip.appendChild(el("b", "", s.p ? fmt(s.m[s.p]) : "–"));
      chip.title = Object.keys(s.m).map(function (m) { return m + " " + fmt(s.m[m], 4); }).join("\n") +
        (s.unp ? "\nunparseable prompts " + s.unp : "");
      chips.appendChild(chip);
    });
    return chips;
  }

  function mistakes(c) {
    var box = el("div", "");
    data.scorers.forEach(function (scorer) {
      var s = c.sc[scorer];
      if (!s || !s.samples || !(s.missed || s["false"] || s.unparsed)) return;
      box.appendChild(el("div", "mistakes", scorer + " got " + (s.missed + s["false"]) + " of " + s.samples +
        " wrong: " + s.missed + " missed, " + s["false"] + " false alarms, " + s.unparsed + " unparsed"));
    });
    return box;
  }

  function steering(list) {
    var box = el("details", "steering");
    box.open = true;
    box.appendChild(el("summary", "", "Steering: the model's continuations, normal and with the latent amplified"));
    list.forEach(function (t) {
      var row = el("div", "ex");
      var verdict = t.ok === true ? " · judge right" : t.ok === false ? " · judge wrong" : "";
      row.appendChild(el("span", "where", t.sc + " · strength " + fmt(t.a) + verdict));
      row.appendChild(el("div", "", "prompt: " + (t.p || "").replace(/\n/g, "↵")));
      row.appendChild(el("div", "", "normal: " + (t.u || "").replace(/\n/g, "↵")));
      row.appendChild(el("div", "", "steered: " + (t.s || "").replace(/\n/g, "↵")));
      box.appendChild(row);
    });
    return box;
  }

  function side(c) {
    var box = el("div", "side");
    box.appendChild(el("div", "ex-title", "Activations in the examples"));
    box.appendChild(histogram(c.h));
    [["firing rate", fmt(c.fr)], ["max activation", fmt(c.max, 4)], ["mean activation", fmt(c.mean, 4)],
     ["activating windows", c.na], ["nonzero tokens", c.nnz],
     ["negatives short", c.short || null]].forEach(function (pair) {
      if (pair[1] !== null && pair[1] !== undefined) box.appendChild(el("div", "stat", pair[0] + ": " + pair[1]));
    });
    if (c.top && c.top.length) {
      box.appendChild(el("div", "ex-title", "Top promoted output tokens"));
      var list = el("div", "top-tokens");
      c.top.forEach(function (t) { list.appendChild(el("span", "", typeof t === "string" ? t : JSON.stringify(t))); });
      box.appendChild(list);
    }
    return box;
  }

  // Best-of-k / revision: every candidate with its score on the select split (never the reported one).
  function selection(sel) {
    var box = el("details", "selection");
    box.appendChild(el("summary", "", sel.c.length + " candidate explanations, chosen by " + sel.by +
      " on the select split (the scores below are on test)"));
    var list = el("ol", "");
    sel.c.forEach(function (cand, i) {
      var text = (cand.o || "") + ": " + (cand.x || ("failed: " + cand.err)) +
        (cand.v === null || cand.v === undefined ? "" : " (select " + fmt(cand.v) + ")");
      list.appendChild(el("li", i === sel.ch ? "chosen" : "", text + (i === sel.ch ? " (chosen)" : "")));
    });
    box.appendChild(list);
    return box;
  }

  function card(c) {
    var node = el("article", "card" + (c.err ? " failed" : ""));
    node.id = "latent-" + c.hp + "/" + c.i;
    node.setAttribute("data-latent", c.hp + "/" + c.i);
    var head = el("div", "card-head");
    head.appendChild(el("span", "card-id", c.hp + "/" + c.i));
    head.appendChild(el("span", "stat", "firing rate " + fmt(c.fr) + " · max " + fmt(c.max, 4)));
    node.appendChild(head);
    node.appendChild(c.x ? el("div", "explanation", c.x)
      : el("div", "explanation missing", c.err ? "No explanation: " + c.err : "No explanation"));
    if (c.sel) node.appendChild(selection(c.sel));
    Object.keys(c.bx || {}).forEach(function (k) { node.appendChild(el("div", "explanation baseline", k + ": " + c.bx[k])); });
    node.appendChild(scoreChips(c));
    node.appendChild(mistakes(c));
    if (c.st && c.st.length) node.appendChild(steering(c.st));
    var body = el("div", "card-body"), main = el("div", "");
    var scale = c.max || 0;  // shade against the cache maximum; else the largest value shown
    if (!scale) c.act.forEach(function (e) { (e.a || []).forEach(function (a) { if (a > scale) scale = a; }); });
    if (!c.rec) main.appendChild(el("div", "note", "The record of this latent was not saved."));
    if (c.act.length) examples(main, "Activating examples: " + c.act.length + " of " + c.nact + ", strongest first", c.act, scale);
    if (c.non.length) {
      var more = el("details", "");
      more.open = c.non.some(function (e) { return e.w; });
      more.appendChild(el("summary", "", "Non-activating examples: " + c.non.length + " of " + c.nnon));
      examples(more, "", c.non, scale);
      main.appendChild(more);
    }
    body.appendChild(main);
    body.appendChild(side(c));
    node.appendChild(body);
    return node;
  }

  // ---- controls ----
  var $ = function (id) { return document.getElementById(id); };

  function render() {
    var pages = Math.max(1, Math.ceil(view.length / PAGE_SIZE));
    state.page = Math.min(state.page, pages - 1);
    var from = state.page * PAGE_SIZE, to = Math.min(view.length, from + PAGE_SIZE);
    var box = $("cards"), frag = document.createDocumentFragment();
    view.slice(from, to).forEach(function (c) { frag.appendChild(card(c)); });
    box.replaceChildren(frag);
    $("count").textContent = view.length + " of " + cards.length + " latents" +
      (view.length ? ", showing " + (from + 1) + "–" + to : "");
    $("page").textContent = "page " + (state.page + 1) + " of " + pages;
    $("prev").disabled = state.page === 0;
    $("next").disabled = state.page >= pages - 1;
    $("order").textContent = state.desc ? "descending" : "ascending";
  }

  function apply() { view = ordered(); state.page = 0; render(); }

  keys.forEach(function (k) {
    var o = el("option", "", k.label);
    o.value = k.id;
    $("sort").appendChild(o);
  });
  data.hookpoints.forEach(function (hp) {
    var o = el("option", "", hp);
    o.value = hp;
    $("hookpoint").appendChild(o);
  });
  $("sort").value = state.key;
  $("sort").addEventListener("change", function () { state.key = this.value; apply(); });
  $("order").addEventListener("click", function () { state.desc = !state.desc; apply(); });
  $("hookpoint").addEventListener("change", function () { state.hp = this.value; apply(); });
  $("min").addEventListener("input", function () {
    state.min = this.value === "" || isNaN(Number(this.value)) ? null : Number(this.value); apply();
  });
  $("search").addEventListener("input", function () { state.query = this.value.trim(); apply(); });
  $("failed").addEventListener("change", function () { state.failed = this.checked; apply(); });
  $("prev").addEventListener("click", function () { state.page--; render(); $("latents").scrollIntoView(); });
  $("next").addEventListener("click", function () { state.page++; render(); $("latents").scrollIntoView(); });
  document.addEventListener("click", function (e) {
    var link = e.target.closest && e.target.closest("[data-goto]");
    if (!link) return;
    e.preventDefault();
    $("search").value = link.getAttribute("data-goto");
    state.query = $("search").value; state.failed = false; $("failed").checked = false; state.hp = "";
    $("hookpoint").value = "";
    apply();
    $("latents").scrollIntoView();
  });

  apply();
  window.autointerpReport = { cards: cards.length, pageSize: PAGE_SIZE, sortKeys: keys.map(function (k) { return k.id; }) };
  document.documentElement.setAttribute("data-ready", "1");
  performance.mark("ready");
})();
