/* geo-publish viewer: draws the layers of a static site on a Leaflet map built by folium.
 *
 * Data come as separate files (geometry first, popup fields after the first draw); big point
 * layers are drawn on one canvas or clustered with supercluster, so 100,000 points stay fast.
 * Every value from the data or the passports reaches the page through textContent, never as
 * HTML. No request leaves the site's origin.
 */
(function () {
  "use strict";

  var LANGS = ["uz", "ru", "en"];
  var STORE_KEY = "geo-publish-lang";

  function pickLang() {
    var q = new URLSearchParams(window.location.search).get("lang");
    if (q && LANGS.indexOf(q) >= 0) return q;
    try {
      var s = window.localStorage.getItem(STORE_KEY);
      if (s && LANGS.indexOf(s) >= 0) return s;
    } catch (e) { /* storage may be disabled */ }
    var nav = navigator.languages || [navigator.language || "en"];
    for (var i = 0; i < nav.length; i++) {
      var code = String(nav[i]).slice(0, 2).toLowerCase();
      if (LANGS.indexOf(code) >= 0) return code;
    }
    return "en";
  }

  function setLang(code) {
    try { window.localStorage.setItem(STORE_KEY, code); } catch (e) { /* ignore */ }
    var url = new URL(window.location.href);
    url.searchParams.set("lang", code);
    window.history.replaceState(null, "", url.toString());
    document.documentElement.lang = code;
  }

  function tr(values, lang) {
    if (!values) return "";
    return values[lang] || values.en || values[Object.keys(values)[0]] || "";
  }

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function escapeHtml(s) {
    return String(s).replace(/[&<>"']/g, function (c) {
      return {"&": "&amp;", "<": "&lt;", ">": "&gt;", "\"": "&quot;", "'": "&#39;"}[c];
    });
  }

  function fmtValue(v) {
    if (v === null || v === undefined || v === "") return "–";
    if (typeof v === "number") return v.toLocaleString();
    return String(v);
  }

  /* ---------------- reporting a problem (layer cards and popups) ---------------- */

  var CATEGORIES = ["wrong_location", "closed_or_moved", "wrong_information", "missing_feature", "other"];

  // A form that posts a problem report to the API; every text goes in by textContent/value.
  function reportForm(url, words, lang, feature, latlng) {
    function w(key) { return tr(words[key], lang); }
    var form = el("form", "gp-report");
    var select = el("select");
    select.name = "category";
    select.setAttribute("aria-label", w("report_problem"));
    CATEGORIES.forEach(function (c) {
      var o = el("option", null, w("cat_" + c));
      o.value = c;
      select.appendChild(o);
    });
    var text = el("textarea");
    text.name = "text";
    text.required = true;
    text.maxLength = 2000;
    text.rows = 3;
    text.setAttribute("aria-label", w("report_text"));
    text.placeholder = w("report_text");
    var mail = el("input");
    mail.type = "email";
    mail.name = "email";
    mail.maxLength = 254;
    mail.placeholder = w("report_email");
    mail.setAttribute("aria-label", w("report_email"));
    var trap = el("input", "gp-hp");  // people do not see it; robots fill it in
    trap.name = "website";
    trap.tabIndex = -1;
    trap.autocomplete = "off";
    trap.setAttribute("aria-hidden", "true");
    var send = el("button", null, w("send"));
    send.type = "submit";
    var status = el("p", "gp-report-status");
    status.setAttribute("role", "status");
    [select, text, mail, trap, send, status].forEach(function (n) { form.appendChild(n); });
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var body = {category: select.value, text: text.value, email: mail.value, website: trap.value};
      if (feature !== null && feature !== undefined) body.feature = String(feature);
      if (latlng) { body.lat = latlng[0]; body.lon = latlng[1]; }
      send.disabled = true;
      fetch(url, {method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body)})
        .then(function (r) {
          return r.json().then(function (d) { return {ok: r.ok, d: d}; });
        })
        .then(function (res) {
          if (res.ok) {
            status.textContent = w("sent");
            form.classList.add("gp-report-done");
          } else {
            status.textContent = (res.d && res.d.description) || "error";
            send.disabled = false;
          }
        })
        .catch(function (err) { status.textContent = String(err); send.disabled = false; });
    });
    return form;
  }

  function reportButton(makeForm, words, lang, after) {
    var b = el("button", "gp-report-open", tr(words.report_problem, lang));
    b.type = "button";
    b.addEventListener("click", function (ev) {
      // the button stays in the page (hidden): a click whose target left the page looks to
      // Leaflet like a click on the map, which closes the popup
      ev.stopPropagation();
      var form = makeForm();
      b.hidden = true;
      b.after(form);
      if (after) after();
      form.querySelector("textarea").focus({preventScroll: true});  // a focus that scrolls moves the map pane
    });
    return b;
  }

  /* ---------------- index page: language switch and search ---------------- */

  /* The service worker that keeps the map for use with no connection (static/sw.js). */
  function keepOffline(sw) {
    if (!sw || !("serviceWorker" in navigator)) return;
    navigator.serviceWorker.register(sw).catch(function (err) {
      console.warn("geo-publish: no offline copy (" + err + ")");
    });
  }

  function index(sw) {
    /* a layer's passport is open where there is room for it, folded on phones */
    if (!window.matchMedia("(max-width: 640px)").matches) {
      document.querySelectorAll("details.gp-about").forEach(function (d) { d.open = true; });
    }
    keepOffline(sw);
    var lang = pickLang();
    document.documentElement.lang = lang;
    var buttons = document.querySelectorAll("[data-set-lang]");
    function mark() {
      buttons.forEach(function (b) {
        b.setAttribute("aria-pressed", b.getAttribute("data-set-lang") === lang ? "true" : "false");
      });
      var input = document.getElementById("gp-search");
      if (input) input.placeholder = input.getAttribute("data-placeholder-" + lang) || "";
      document.querySelectorAll("a[data-keep-lang]").forEach(function (a) {
        var url = new URL(a.getAttribute("href"), window.location.href);
        url.searchParams.set("lang", lang);
        a.href = url.toString();
      });
    }
    var words = JSON.parse((document.getElementById("gp-ui") || {}).textContent || "{}");
    /* the filters: each list filled from facets.json, its words in the page's language */
    var selects = document.querySelectorAll("select[data-f]");
    var facets = null;
    function facetName(key, value) {
      if (key === "f" || key === "r") return tr(words[(key === "f" ? "fmt_" : "fresh_") + value], lang) || value;
      return value;
    }
    function fill() {
      if (!facets) return;
      selects.forEach(function (sel) {
        var key = sel.getAttribute("data-f"), keep = sel.value;
        sel.textContent = "";
        var any = document.createElement("option");
        any.value = "";
        any.textContent = tr(words.f_any, lang);
        sel.appendChild(any);
        (facets[key] || []).forEach(function (pair) {
          var o = document.createElement("option");
          o.value = pair[0];
          o.textContent = facetName(key, pair[0]) + " (" + pair[1] + ")";
          sel.appendChild(o);
        });
        sel.value = keep;
      });
    }
    buttons.forEach(function (b) {
      b.addEventListener("click", function () {
        lang = b.getAttribute("data-set-lang");
        setLang(lang);
        mark();
        fill();
      });
    });
    mark();
    document.querySelectorAll("[data-feedback]").forEach(function (card) {
      var url = card.getAttribute("data-feedback");
      var slot = card.querySelector(".gp-report-slot");
      if (slot && words.report_problem) {
        slot.appendChild(reportButton(function () { return reportForm(url, words, lang, null, null); },
                                      words, lang));
      }
      var open = card.querySelector(".gp-open-reports");
      if (open) fetch(url).then(function (r) { return r.ok ? r.json() : null; }).then(function (d) {
        if (!d) return;
        open.textContent = String(d.open) + (d.median_hours_to_answer === null ? "" :
          " · " + tr(words.median_answer, lang) + " " + d.median_hours_to_answer + " " + tr(words.hours, lang));
      }).catch(function () { /* the API is not reachable: the card says nothing */ });
    });
    document.querySelectorAll(".gp-freshness[data-collection]").forEach(function (dd) {
      /* the state the site was built with may be stale by now: ask the API */
      fetch(dd.getAttribute("data-collection") + "?f=json").then(function (r) {
        return r.ok ? r.json() : null;
      }).then(function (d) {
        var state = d && d.freshness && d.freshness.state;
        if (!state || !words["fresh_" + state]) return;
        dd.setAttribute("data-state", state);
        var card = dd.closest("[data-r]");
        if (card) card.setAttribute("data-r", state);
        dd.querySelectorAll("b [data-l]").forEach(function (span) {
          span.textContent = words["fresh_" + state][span.getAttribute("data-l")] || "";
        });
        var when = dd.querySelector("time");
        if (when) when.textContent = new Date().toISOString().slice(0, 10);
      }).catch(function () { /* offline: the built state stays */ });
    });
    var input = document.getElementById("gp-search");
    var cards = document.querySelectorAll("[data-search]");
    var none = document.getElementById("gp-no-match");
    var main = document.querySelector("main[data-pages]");
    var page = main ? Number(main.getAttribute("data-page")) : 1;
    var here = page > 1 ? "index-" + page + ".html" : "index.html";
    var elsewhere = document.getElementById("gp-elsewhere");  /* only when there are pages */
    var every = null;  /* search.json: every layer's search words, read at the first search */
    var places = document.getElementById("gp-find-places");  /* features by name: on the map page */
    var want = {};
    function pass(o, k, f, r) {
      return (!want.o || o === want.o) && (!want.k || (k || []).indexOf(want.k) >= 0) &&
        (!want.f || f === want.f) && (!want.r || r === want.r);
    }
    function run() {
      var q = input.value.trim().toLowerCase();
      var terms = queryTerms(q);
      var shown = 0;
      want = {};
      selects.forEach(function (sel) { if (sel.value) want[sel.getAttribute("data-f")] = sel.value; });
      var asked = q || Object.keys(want).length;
      if (places) {
        places.hidden = !terms.length;
        places.querySelector(".gp-q").textContent = input.value.trim();
        places.querySelector("a").href = "map.html?lang=" + lang + "&find=" + encodeURIComponent(input.value.trim());
      }
      cards.forEach(function (c) {
        var hit = matches(c.getAttribute("data-search"), q, terms) &&
          pass(c.getAttribute("data-o"), JSON.parse(c.getAttribute("data-k") || "[]"),
               c.getAttribute("data-f"), c.getAttribute("data-r"));
        c.hidden = !hit;
        if (hit) shown++;
      });
      var other = 0;
      if (elsewhere) {
        var list = elsewhere.querySelector("ul");
        list.textContent = "";
        if (asked && every === null) {
          every = "loading";
          fetch("search.json").then(function (r) { return r.ok ? r.json() : []; })
            .then(function (d) { every = d; run(); })
            .catch(function () { every = []; run(); });
        }
        if (asked && Array.isArray(every)) {
          var found = every.filter(function (e) {
            return e.page !== here && matches(e.s, q, terms) && pass(e.o, e.k, e.f, e.r);
          });
          found.slice(0, 50).forEach(function (e) {
            var li = document.createElement("li"), a = document.createElement("a");
            a.href = e.page + "#layer-" + encodeURIComponent(e.id);
            a.textContent = tr(e.title, lang) || e.id;
            li.appendChild(a);
            list.appendChild(li);
            other++;
          });
          if (found.length > 50) {
            var rest = document.createElement("li");
            rest.className = "gp-more-matches";
            rest.textContent = tr(words.more_matches, lang).replace("{n}", found.length - 50);
            list.appendChild(rest);
          }
        }
        elsewhere.hidden = other === 0;
      }
      if (none) none.hidden = shown > 0 || other > 0 || every === "loading";
    }
    if (input) input.addEventListener("input", run);
    selects.forEach(function (sel) { sel.addEventListener("change", run); });
    if (selects.length) {
      fetch("facets.json").then(function (r) { return r.ok ? r.json() : null; })
        .then(function (d) { facets = d; fill(); })
        .catch(function () { /* no lists: the filters stay at "any" */ });
    }
  }

  /* ---------------- search words ---------------- */
  /* A query in the one Latin spelling the site's index keeps (geo_publish/store/search.py):
     Uzbek Cyrillic to Latin, apostrophes dropped, and a light stem (a Russian case ending, an
     English plural), each word matched as the start of an indexed word: "maktab" finds
     "Мактаблар", "школы" finds "Школа". */
  var CYR = {"а": "a", "б": "b", "в": "v", "г": "g", "ғ": "g", "д": "d", "ж": "j", "з": "z",
    "и": "i", "й": "y", "к": "k", "қ": "q", "л": "l", "м": "m", "н": "n", "о": "o", "п": "p",
    "р": "r", "с": "s", "т": "t", "у": "u", "ў": "o", "ф": "f", "х": "x", "ҳ": "h", "ц": "ts",
    "ч": "ch", "ш": "sh", "щ": "sh", "ъ": "", "ь": "", "ы": "i", "э": "e", "ё": "yo", "ю": "yu",
    "я": "ya", "і": "i", "ї": "yi", "є": "ye", "ґ": "g"};
  var VOWELS = "аеёиоуўэюяыі", MARKS = "'\u2019\u02bb\u02bc`\u2018";
  function latin(word) {
    var out = "";
    for (var i = 0; i < word.length; i++) {
      var ch = word.charAt(i);
      if (ch === "е") out += (i === 0 || VOWELS.indexOf(word.charAt(i - 1)) >= 0) ? "ye" : "e";
      else if (Object.prototype.hasOwnProperty.call(CYR, ch)) out += CYR[ch];
      else if (MARKS.indexOf(ch) < 0) out += ch;
    }
    return out;
  }
  /* A Latin (Uzbek) word in Uzbek Cyrillic, for asking a store that keeps names as written:
     "maktab" -> "мактаб", "o'quv" -> "ўқув", "shifoxona" -> "шифохона". */
  var LAT2 = {"sh": "ш", "ch": "ч", "ya": "я", "yu": "ю", "yo": "ё", "ye": "е", "ts": "ц"};
  var LAT1 = {"a": "а", "b": "б", "d": "д", "e": "е", "f": "ф", "g": "г", "h": "ҳ", "i": "и",
    "j": "ж", "k": "к", "l": "л", "m": "м", "n": "н", "o": "о", "p": "п", "q": "қ", "r": "р",
    "s": "с", "t": "т", "u": "у", "v": "в", "x": "х", "y": "й", "z": "з"};
  function cyrillic(word) {
    var out = "", w = word.toLowerCase();
    for (var i = 0; i < w.length; i++) {
      var two = w.substr(i, 2), next = w.charAt(i + 1);
      if ((w.charAt(i) === "o" || w.charAt(i) === "g") && MARKS.indexOf(next) >= 0) {
        out += w.charAt(i) === "o" ? "ў" : "ғ"; i++;
      } else if (Object.prototype.hasOwnProperty.call(LAT2, two)) { out += LAT2[two]; i++; }
      else if (MARKS.indexOf(w.charAt(i)) >= 0) out += "ъ";
      else out += Object.prototype.hasOwnProperty.call(LAT1, w.charAt(i)) ? LAT1[w.charAt(i)] : w.charAt(i);
    }
    return out;
  }
  function stem(word) {
    var w = /[а-яё]/.test(word)
      ? word.replace(/(ами|ями|ого|его|ому|ему|ыми|ими|ах|ях|ов|ев|ей|ой|ий|ый|ая|яя|ое|ее|ые|ие|ую|юю|ам|ям|ом|ем|[аяоеыиуюйь])$/, "")
      : word.replace(/(es|s)$/, "");
    return w.length >= 3 ? w : word;
  }
  function queryWords(q) {  /* the words of a query that count, as typed */
    return (q.match(/[\p{L}\p{N}'\u2019\u02bb\u02bc`\u2018]+/gu) || []).slice(0, 8);
  }
  function queryTerms(q) {
    return queryWords(q).map(function (w) { return latin(stem(w)); }).filter(Boolean);
  }
  function matches(text, q, terms) {
    if (!q || text.indexOf(q) >= 0) return true;
    return terms.length > 0 && hasWords(text, terms);
  }
  /* Every term begins a word of the text (words: separated by spaces). */
  function hasWords(text, terms) {
    var words = text.split(" ");
    return terms.every(function (t) {
      return words.some(function (w) { return w.indexOf(t) === 0; });
    });
  }

  /* ---------------- map page ---------------- */

  var R = 6371008.8;
  function haversine(lat1, lon1, lat2, lon2) {
    var toRad = Math.PI / 180;
    var dLat = (lat2 - lat1) * toRad, dLon = (lon2 - lon1) * toRad;
    var a = Math.sin(dLat / 2) * Math.sin(dLat / 2) +
      Math.cos(lat1 * toRad) * Math.cos(lat2 * toRad) * Math.sin(dLon / 2) * Math.sin(dLon / 2);
    return 2 * R * Math.asin(Math.min(1, Math.sqrt(a)));
  }

  /* A telephone number as a tel: URI wants it (digits, a leading +), or null when the value
     is not one: 7 to 15 digits, written with spaces, dashes, dots or brackets. */
  function phoneNumber(v) {
    if (typeof v !== "string" && typeof v !== "number") return null;
    var s = String(v).trim();
    if (!/^\+?[0-9][0-9 ().-]{5,}$/.test(s)) return null;
    var digits = s.replace(/[^0-9]/g, "");
    if (digits.length < 7 || digits.length > 15) return null;
    if (typeof v === "number" && s.charAt(0) !== "+") return null;  /* a count, not a number to call */
    return (s.charAt(0) === "+" ? "+" : "") + digits;
  }
  /* The compass point (of eight) from one position to another, by the initial bearing. */
  function compass(lat1, lon1, lat2, lon2) {
    var r = Math.PI / 180, dl = (lon2 - lon1) * r;
    var y = Math.sin(dl) * Math.cos(lat2 * r);
    var x = Math.cos(lat1 * r) * Math.sin(lat2 * r) - Math.sin(lat1 * r) * Math.cos(lat2 * r) * Math.cos(dl);
    var deg = (Math.atan2(y, x) / r + 360) % 360;
    return ["n", "ne", "e", "se", "s", "sw", "w", "nw"][Math.round(deg / 45) % 8];
  }
  function pinIcon(layer, extraClass) {
    var html = "<span class=\"gp-pin\" style=\"--gp-c:" + layer.color + "\"><i class=\"fa-solid fa-" +
      layer.icon + "\"></i></span>";
    return L.divIcon({html: html, className: "gp-pin-wrap" + (extraClass || ""), iconSize: [28, 36],
      iconAnchor: [14, 34], popupAnchor: [0, -30]});
  }

  // a marker is a button (Leaflet's keyboard access): its name says what it is, for a screen reader
  function markerName(layer, n) {
    return tr(layer.title, document.documentElement.lang || "en") + " " + n;
  }

  var PointsCanvas, ClusterLayer;
  function disc(r, width) {  /* pixel offsets of a filled disc in a buffer of this width */
    var out = [];
    for (var dy = -r; dy <= r; dy++) {
      for (var dx = -r; dx <= r; dx++) if (dx * dx + dy * dy <= r * r + r * 0.8) out.push(dy * width + dx);
    }
    return out;
  }
  function defineLayers() {  /* Leaflet is only on map pages */
  if (PointsCanvas) return;
  /* Points on one canvas: positions projected once (Web Mercator, 0..1), redrawn per view. */
  PointsCanvas = L.Layer.extend({
    initialize: function (coords, color, onPick) {
      var n = coords.length / 2;
      this._x = new Float64Array(n);
      this._y = new Float64Array(n);
      var max = 85.0511287798, d = Math.PI / 180;
      for (var i = 0; i < n; i++) {
        var lat = Math.max(-max, Math.min(max, coords[2 * i + 1]));
        this._x[i] = (coords[2 * i] + 180) / 360;
        this._y[i] = 0.5 - Math.log(Math.tan(Math.PI / 4 + lat * d / 2)) / (2 * Math.PI);
      }
      this._color = color;
      var v = parseInt(color.slice(1), 16);  // #rrggbb -> little-endian RGBA pixel
      this._rgba = ((0xff << 24) | ((v & 0xff) << 16) | (v & 0xff00) | ((v >> 16) & 0xff)) >>> 0;
      this._onPick = onPick;
    },
    onAdd: function (map) {
      this._canvas = L.DomUtil.create("canvas", "gp-canvas leaflet-zoom-hide");
      map.getPane("overlayPane").appendChild(this._canvas);
      map.on("moveend zoomend resize viewreset", this._redraw, this);
      map.on("click", this._click, this);
      this._redraw();
    },
    onRemove: function (map) {
      L.DomUtil.remove(this._canvas);
      map.off("moveend zoomend resize viewreset", this._redraw, this);
      map.off("click", this._click, this);
    },
    _frame: function () {
      var map = this._map;
      var scale = 256 * Math.pow(2, map.getZoom());
      var origin = map.getPixelOrigin();
      var pane = map.layerPointToContainerPoint([0, 0]);
      return {scale: scale, dx: pane.x - origin.x, dy: pane.y - origin.y, size: map.getSize()};
    },
    _redraw: function () {
      var map = this._map;
      if (!map) return;
      var f = this._frame(), ratio = window.devicePixelRatio || 1, c = this._canvas;
      c.width = f.size.x * ratio;
      c.height = f.size.y * ratio;
      c.style.width = f.size.x + "px";
      c.style.height = f.size.y + "px";
      L.DomUtil.setPosition(c, map.containerPointToLayerPoint([0, 0]));
      // Dots written straight into a pixel buffer: one putImageData, no path for the browser to
      // rasterise (a 100,000-circle path costs hundreds of ms per frame without a GPU).
      var ctx = c.getContext("2d");
      var W = c.width, H = c.height, img = ctx.createImageData(W, H);
      var buf = new Uint32Array(img.data.buffer);
      var z = map.getZoom(), r = Math.round((z < 8 ? 2 : z < 12 ? 3 : 4) * ratio);
      var fill = this._rgba, halo = z >= 8 ? 0xffffffff : 0;
      var inner = disc(r, W), outer = halo ? disc(r + Math.max(1, Math.round(ratio)), W) : null;
      var xs = this._x, ys = this._y, n = xs.length, m = r + 2;
      var sx = f.scale * ratio, ox = f.dx * ratio, oy = f.dy * ratio;
      for (var pass = outer ? 0 : 1; pass < 2; pass++) {
        var offs = pass === 0 ? outer : inner, colour = pass === 0 ? halo : fill;
        for (var i = 0; i < n; i++) {
          var px = Math.round(xs[i] * sx + ox), py = Math.round(ys[i] * sx + oy);
          if (px < m || py < m || px >= W - m || py >= H - m) continue;
          var base = py * W + px;
          for (var k = 0; k < offs.length; k++) buf[base + offs[k]] = colour;
        }
      }
      ctx.putImageData(img, 0, 0);
      this.drawn = n;
    },
    _click: function (e) {
      var f = this._frame(), best = -1, bestD = 100; // within 10 px
      var xs = this._x, ys = this._y;
      for (var i = 0; i < xs.length; i++) {
        var dx = xs[i] * f.scale + f.dx - e.containerPoint.x, dy = ys[i] * f.scale + f.dy - e.containerPoint.y;
        var d = dx * dx + dy * dy;
        if (d < bestD) { bestD = d; best = i; }
      }
      if (best >= 0) this._onPick(best);
    }
  });

  /* Points clustered with supercluster: only the clusters of the current view become markers. */
  ClusterLayer = L.LayerGroup.extend({
    /* radius: how close (px) pins merge; maxZoom: the last zoom that clusters (every pin is
       its own beyond it) */
    initialize: function (coords, layer, onPick, radius, maxZoom) {
      L.LayerGroup.prototype.initialize.call(this);
      var points = new Array(coords.length / 2);
      for (var i = 0; i < points.length; i++) {
        points[i] = {type: "Feature", properties: {i: i},
          geometry: {type: "Point", coordinates: [coords[2 * i], coords[2 * i + 1]]}};
      }
      /* extent 256: radius in screen pixels of Leaflet's 256-pixel tiles (supercluster counts 512) */
      this._index = new Supercluster({radius: radius || 60, extent: 256, maxZoom: maxZoom || 16}).load(points);
      this._layer = layer;
      this._onPick = onPick;
    },
    onAdd: function (map) {
      L.LayerGroup.prototype.onAdd.call(this, map);
      map.on("moveend", this._update, this);
      this._update();
    },
    onRemove: function (map) {
      map.off("moveend", this._update, this);
      L.LayerGroup.prototype.onRemove.call(this, map);
    },
    _update: function () {
      var map = this._map;
      if (!map) return;
      var b = map.getBounds(), self = this;
      var west = Math.max(-180, b.getWest()), east = Math.min(180, b.getEast());
      var clusters = this._index.getClusters([west, b.getSouth(), east, b.getNorth()], map.getZoom());
      this.clearLayers();
      clusters.forEach(function (c) {
        var ll = [c.geometry.coordinates[1], c.geometry.coordinates[0]];
        if (c.properties.cluster) {
          var n = c.properties.point_count, size = n < 100 ? 32 : n < 1000 ? 40 : 48;
          var icon = L.divIcon({html: "<span style=\"--gp-c:" + self._layer.color + "\">" +
            c.properties.point_count_abbreviated + "</span>", className: "gp-cluster",
            iconSize: [size, size]});
          var m = L.marker(ll, {icon: icon, title: markerName(self._layer, "(" + n + ")")});
          m.on("click", function () {
            map.setView(ll, Math.min(self._index.getClusterExpansionZoom(c.properties.cluster_id), 18));
          });
          self.addLayer(m);
        } else {
          var p = L.marker(ll, {icon: pinIcon(self._layer), title: markerName(self._layer, "#" + (c.properties.i + 1))});
          p.on("click", function () { self._onPick(c.properties.i); });
          self.addLayer(p);
        }
      });
      this.drawn = clusters.length;
    }
  });
  }

  function start(map, cfg) {
    defineLayers();
    keepOffline(cfg.sw);
    var lang = pickLang();
    document.documentElement.lang = lang;
    var ui = cfg.ui;
    function t(key) { return tr(ui[key], lang); }
    var state = {drawn: 0, failed: 0, layers: cfg.layers, map: map};
    window.geoPublish.state = state;
    var renderer = L.canvas({padding: 0.5});

    /* not animated: a fit to the nearest places soon after (emergency.html) would be undone by
       the end of this one's zoom animation */
    if (cfg.bounds) map.fitBounds([[cfg.bounds[1], cfg.bounds[0]], [cfg.bounds[3], cfg.bounds[2]]], {padding: [8, 8], animate: false});

    /* ---- popups ---- */
    /* A feature as popups and lists see it: its layer, fid, position and field values, from the
       layer's popup file (i: its row) or from a tile or the API (props: its fields). */
    function rowRecord(layer, i) {
      var c = layer.points || layer.centres;
      return {layer: layer, id: i + 1, ll: [c[2 * i + 1], c[2 * i]], get: function (field) {
        var k = layer.props && layer.props.fields ? layer.props.fields.indexOf(field) : -1;
        return k < 0 ? undefined : layer.props.rows[i][k];
      }};
    }
    function propsRecord(layer, id, props, ll) {
      return {layer: layer, id: id, ll: ll, get: function (field) {
        return props && Object.prototype.hasOwnProperty.call(props, field) ? props[field] : undefined;
      }};
    }
    function featureName(rec) {
      var v = rec.layer.label ? rec.get(rec.layer.label) : undefined;
      if (v !== null && v !== undefined && v !== "") return String(v);
      return tr(rec.layer.title, lang) + " #" + rec.id;
    }
    function popupContent(rec) {
      var layer = rec.layer;
      var box = el("div", "gp-popup");
      box.appendChild(el("div", "gp-popup-layer", tr(layer.title, lang)));
      box.appendChild(el("div", "gp-popup-title", featureName(rec)));
      var table = el("table");
      layer.popup.forEach(function (p) {
        var v = rec.get(p.field);
        if (v === undefined && !layer.props) return;
        var row = el("tr");
        row.appendChild(el("th", null, tr(p.label, lang)));
        var td = el("td");
        var tel = phoneNumber(v);
        if (tel) {  /* tap to call */
          var call = el("a", "gp-tel", fmtValue(v));
          call.href = "tel:" + tel;
          call.setAttribute("aria-label", t("call") + " " + fmtValue(v));
          td.appendChild(call);
        } else {
          td.textContent = fmtValue(v);
        }
        row.appendChild(td);
        table.appendChild(row);
      });
      box.appendChild(table);
      if (rec.ll && isFinite(rec.ll[0]) && isFinite(rec.ll[1])) {
        var lat = rec.ll[0], lon = rec.ll[1];
        var acts = el("div", "gp-popup-actions");
        if (lastPos) {  /* how far, and which way, from the person */
          var d = haversine(lastPos[0], lastPos[1], lat, lon);
          var dist = distanceText(d), dir = t("dir_" + compass(lastPos[0], lastPos[1], lat, lon));
          var way = el("div", "gp-popup-way", lang === "uz" ? t("from_you") + " " + dist + " " + dir  /* sizdan 400 m shimolga */
                                                            : dist + " " + dir + " " + t("from_you"));
          way.setAttribute("data-metres", String(Math.round(d)));
          acts.appendChild(way);
        }
        /* the phone's own map app (geo: URI, RFC 5870), for turn-by-turn directions */
        var geo = el("a", "gp-geo");
        geo.href = "geo:" + lat.toFixed(6) + "," + lon.toFixed(6) + "?q=" + lat.toFixed(6) + "," +
          lon.toFixed(6) + "(" + encodeURIComponent(featureName(rec)) + ")";
        geo.appendChild(el("i", "fa-solid fa-diamond-turn-right"));
        geo.appendChild(document.createTextNode(" " + t("open_in_maps")));
        acts.appendChild(geo);
        box.appendChild(acts);
      }
      if (cfg.api) {
        var url = cfg.api + "/feedback/" + encodeURIComponent(layer.id);
        box.appendChild(reportButton(function () {
          return reportForm(url, ui, lang, rec.id, rec.ll);
        }, ui, lang, function () { if (state.popup) state.popup.update(); }));  // grown: pan to show it
      }
      return box;
    }
    /* The height of the nearest list when it is a bottom sheet (phones), else 0: what the
       map keeps clear at its bottom when it shows a place. */
    function sheetHeight() {
      if (!nearestBox || nearestBox.hidden || window.getComputedStyle(nearestBox).position !== "fixed") return 0;
      return nearestBox.offsetHeight;
    }
    /* On phones, how far down the map the top-left controls (title, "nearest") reach: a place
       shown under them would be hidden. */
    function topClear() {
      if (!window.matchMedia("(max-width: 640px)").matches) return 20;
      var corner = map.getContainer().querySelector(".leaflet-top.leaflet-left");
      return corner ? corner.getBoundingClientRect().bottom - map.getContainer().getBoundingClientRect().top + 10 : 20;
    }
    function showPopup(rec, latlng) {
      var sheet = sheetHeight();
      state.popup = L.popup({maxWidth: Math.min(320, map.getSize().x - 60), autoPanPaddingTopLeft: [20, topClear()],
                             autoPanPaddingBottomRight: [20, 20 + sheet]})
        .setLatLng(latlng || rec.ll)
        .setContent(popupContent(rec))
        .openOn(map);
      if (state.line) map.removeLayer(state.line);
      state.line = null;
      if (lastPos && rec.ll) {  /* the straight line from the person to it */
        var line = state.line = L.polyline([lastPos, rec.ll], {color: "#2563eb", weight: 3, dashArray: "6 6",
                                                               interactive: false}).addTo(map);
        state.popup.once("remove", function () { if (state.line === line) { map.removeLayer(line); state.line = null; } });
      }
      return state.popup;
    }
    function openPopup(layer, i, latlng) {
      layer.propsReady.then(function () { showPopup(rowRecord(layer, i), latlng); });
    }
    /* A feature of a tiled layer: the tile's fields at once, then, from a live API, the
       feature's own (the tile may round or leave out nothing shown, but the API is the record). */
    function openTileFeature(layer, id, props, latlng) {
      var popup = showPopup(propsRecord(layer, id, props, [latlng.lat, latlng.lng]), latlng);
      if (!cfg.api || id === undefined || id === null) return;
      fetch(cfg.api + "/collections/" + encodeURIComponent(layer.id) + "/items/" +
            encodeURIComponent(id) + "?f=json")
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (f) {
          if (!f || state.popup !== popup || !map.hasLayer(popup)) return;
          popup.setContent(popupContent(propsRecord(layer, id, f.properties,
                                                    [latlng.lat, latlng.lng])));
        }).catch(function () { /* offline: the tile's fields stay */ });
    }

    /* ---- drawing ---- */
    /* A large layer from vector tiles (protomaps-leaflet, on canvas): the API's tiles on a live
       site, else the version's PMTiles archive beside the page (any web server with ranges). */
    function tileLayer(layer) {
      var P = window.protomapsL, fill = layer.background ? Math.min(layer.fillOpacity, 0.08) : layer.fillOpacity;
      function kind(k) { return function (z, f) { return f.geomType === k; }; }
      var rules = [
        {dataLayer: layer.id, filter: kind(3), symbolizer: new P.PolygonSymbolizer({fill: layer.color, opacity: fill})},
        {dataLayer: layer.id, filter: function (z, f) { return f.geomType !== 1; },
         symbolizer: new P.LineSymbolizer({color: layer.color, width: layer.weight})},
        {dataLayer: layer.id, filter: kind(1), symbolizer: new P.CircleSymbolizer({
          radius: function (z) { return z < 8 ? 2 : z < 12 ? 3 : 4; }, fill: layer.color,
          stroke: "#ffffff", width: function (z) { return z >= 8 ? 1 : 0; }})}
      ];
      var url = cfg.api ? cfg.api + "/collections/" + encodeURIComponent(layer.id) +
        "/tiles/WebMercatorQuad/{z}/{y}/{x}" : layer.tiles;
      var b = layer.bbox;
      return P.leafletLayer({url: url, paintRules: rules, labelRules: [], maxDataZoom: layer.maxzoom,
        levelDiff: 0, tileDelay: 0.001, attribution: "", pane: "overlayPane",
        bounds: b ? [[b[1], b[0]], [b[3], b[2]]] : undefined});
    }
    /* ---- the base map: streets, water, parks, buildings and places from an OSM extract
       (geo-publish basemap build, or any archive in the Protomaps basemap schema), drawn under
       the layers. Our own style: strong contrast between roads and land, wide roads, labels
       with a halo, light or dark as the device prefers. ---- */
    var BASE = {
      light: {land: "#f4f1ea", water: "#8fbfe0", green: "#c6e3b5", wood: "#a9d39a", care: "#f3d3d3",
              built: "#e4ddd3", building: "#d3c8bb", buildingLine: "#a3968a", casing: "#7d7468",
              highway: "#e07b39", major: "#f5c04f", minor: "#ffffff", path: "#6b5e53", rail: "#555555",
              text: "#1a1a1a", halo: "#ffffff", waterText: "#0b4870", border: "#7b4f9e"},
      dark: {land: "#1e2227", water: "#1f4e79", green: "#27402c", wood: "#2f4d33", care: "#4a2c2c",
             built: "#2a2e33", building: "#3a4048", buildingLine: "#59616b", casing: "#0d0f12",
             highway: "#d9843f", major: "#c9a14a", minor: "#8b939c", path: "#a39a90", rail: "#9a9a9a",
             text: "#f2f2f2", halo: "#111111", waterText: "#9fd0f5", border: "#c3a2e0"}
    };
    function basemapLayer(b) {
      var P = window.protomapsL;
      var dark = window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches;
      var c = BASE[dark ? "dark" : "light"];
      function is(kinds) { return function (z, f) { return kinds.indexOf(f.props.kind) >= 0; }; }
      function ramp(stops) {  /* a width by zoom, linear between [zoom, px] stops */
        return function (z) {
          if (z <= stops[0][0]) return stops[0][1];
          for (var i = 1; i < stops.length; i++) {
            if (z <= stops[i][0]) {
              var a = stops[i - 1], e = stops[i];
              return a[1] + (e[1] - a[1]) * (z - a[0]) / (e[0] - a[0]);
            }
          }
          return stops[stops.length - 1][1];
        };
      }
      function names() { return ["name:" + lang, lang === "uz" ? "name:uz-Cyrl" : "name", "name"]; }
      var roadW = {highway: ramp([[5, 1.5], [10, 3], [14, 7], [18, 18]]),
                   major_road: ramp([[7, 1], [10, 2], [14, 5.5], [18, 15]]),
                   minor_road: ramp([[12, 1], [14, 3], [18, 10]])};
      function road(kind, color, extra) {
        return [{dataLayer: "roads", filter: is([kind]), symbolizer: new P.LineSymbolizer({
                   color: c.casing, width: function (z) { return roadW[kind](z) + (z >= 12 ? 2 : 0.8); },
                   lineCap: "round"})},
                {dataLayer: "roads", filter: is([kind]), symbolizer: new P.LineSymbolizer(
                  Object.assign({color: color, width: roadW[kind], lineCap: "round"}, extra || {}))}];
      }
      function border(kind, widths, dash) {  /* a dashed line, drawn in the dash's colour alone */
        var w = ramp(widths);
        return {dataLayer: "boundaries", filter: is([kind]), symbolizer: new P.LineSymbolizer({
          color: c.border, width: w, dash: dash, dashColor: c.border, dashWidth: w})};
      }
      var rules = [
        {dataLayer: "landuse", filter: is(["park", "garden", "playground", "pitch", "grass", "meadow",
          "grassland", "recreation_ground", "cemetery", "stadium"]),
         symbolizer: new P.PolygonSymbolizer({fill: c.green})},
        {dataLayer: "landuse", filter: is(["forest", "wood", "scrub", "nature_reserve", "orchard", "vineyard"]),
         symbolizer: new P.PolygonSymbolizer({fill: c.wood})},
        {dataLayer: "landuse", filter: is(["hospital", "clinic"]), symbolizer: new P.PolygonSymbolizer({fill: c.care})},
        {dataLayer: "landuse", filter: is(["industrial", "commercial", "retail", "railway", "school",
          "university", "college", "kindergarten", "military", "aerodrome"]),
         symbolizer: new P.PolygonSymbolizer({fill: c.built})},
        {dataLayer: "water", filter: function (z, f) { return f.geomType === 3; },
         symbolizer: new P.PolygonSymbolizer({fill: c.water})},
        {dataLayer: "water", filter: function (z, f) { return f.geomType === 2; },
         symbolizer: new P.LineSymbolizer({color: c.water, width: ramp([[9, 1], [14, 4], [18, 10]])})},
        border("region", [[4, 1], [10, 1.5], [16, 2.5]], [5, 3]),
        border("country", [[0, 1.5], [10, 3], [16, 4]], [8, 3]),
        {dataLayer: "buildings", minzoom: 13, symbolizer: new P.PolygonSymbolizer({
          fill: c.building, stroke: c.buildingLine, width: 0.6})},
        {dataLayer: "roads", filter: is(["path"]), minzoom: 13, symbolizer: new P.LineSymbolizer({
          color: c.path, width: ramp([[13, 1], [18, 3]]), dash: [2, 1.5], dashColor: c.path,
          dashWidth: ramp([[13, 1], [18, 3]])})},
        {dataLayer: "roads", filter: is(["rail"]), symbolizer: new P.LineSymbolizer({
          color: c.rail, width: ramp([[10, 1], [18, 3]]), dash: [4, 3], dashColor: c.rail,
          dashWidth: ramp([[10, 1], [18, 3]])})}
      ].concat(road("minor_road", c.minor), road("major_road", c.major), road("highway", c.highway));
      var font = function (size, weight) {
        return function (z) { return (weight || 600) + " " + Math.round(size(z)) + "px sans-serif"; };
      };
      var labels = [
        {dataLayer: "places", filter: is(["locality"]), symbolizer: new P.CenteredTextSymbolizer({
          labelProps: names, fill: c.text, stroke: c.halo, width: 3,
          font: font(ramp([[4, 13], [10, 16], [14, 20]]), 700)})},
        {dataLayer: "places", filter: is(["neighbourhood"]), symbolizer: new P.CenteredTextSymbolizer({
          labelProps: names, fill: c.text, stroke: c.halo, width: 3, font: font(ramp([[11, 13], [16, 16]]), 600)})},
        {dataLayer: "roads", filter: is(["highway", "major_road", "minor_road"]), minzoom: 13,
         symbolizer: new P.LineLabelSymbolizer({labelProps: names, fill: c.text, stroke: c.halo, width: 3,
           font: font(ramp([[13, 13], [17, 16]]), 600)})},
        {dataLayer: "water", minzoom: 12, symbolizer: new P.CenteredTextSymbolizer({
          labelProps: names, fill: c.waterText, stroke: c.halo, width: 3, font: font(ramp([[12, 13], [16, 15]]), 600)})}
      ];
      return P.leafletLayer({url: b.url, paintRules: rules, labelRules: labels, backgroundColor: c.land,
        maxDataZoom: b.maxzoom, attribution: b.attribution, pane: "tilePane", tileDelay: 0.001});
    }
    if (cfg.basemap && window.protomapsL) {
      state.basemap = basemapLayer(cfg.basemap);
      state.basemap.addTo(map);
    }
    /* The feature of a tiled layer under a click (the nearest point within 10 px, or the shape
       that holds the click). */
    function pickTile(layer, latlng) {
      var found = layer.leaflet.queryTileFeaturesDebug(latlng.lng, latlng.lat, 10).get("") || [];
      var best = null, bestD = Infinity, at = map.latLngToContainerPoint(latlng);
      found.forEach(function (hit) {
        if (hit.layerName !== layer.id) return;
        var d = hit.feature.geomType === 1 ? 0 : 1;  /* points before the shape under them */
        if (d < bestD) { best = hit.feature; bestD = d; }
      });
      return best && {id: best.id, props: best.props, at: at};
    }
    map.on("click", function (e) {
      for (var k = cfg.layers.length - 1; k >= 0; k--) {
        var layer = cfg.layers[k];
        if (layer.mode !== "tiles" || !layer.leaflet || !map.hasLayer(layer.leaflet)) continue;
        var hit = pickTile(layer, e.latlng);
        if (hit) { openTileFeature(layer, hit.id, hit.props, e.latlng); return; }
      }
    });
    function draw(layer, data) {
      var pick = function (i) { openPopup(layer, i); };
      if (data.type === "points") {
        layer.points = data.coords;
        if (layer.mode === "canvas") return new PointsCanvas(data.coords, layer.color, pick);
        if (layer.mode === "cluster") return new ClusterLayer(data.coords, layer, pick);
        /* pins: those that would overlap (at a country's zoom, the shelters of a city) merge
           into one with their count, and spread out as the map zooms in; from zoom 14 each is
           its own */
        return new ClusterLayer(data.coords, layer, pick, 30, 13);
      }
      layer.centres = data.centres;
      var features = data.geometries.map(function (g, i) {
        return {type: "Feature", geometry: g, properties: {i: i}};
      });
      return L.geoJSON({type: "FeatureCollection", features: features}, {
        renderer: renderer,
        style: function () {
          return {color: layer.color, weight: layer.weight,
            fillOpacity: layer.background ? Math.min(layer.fillOpacity, 0.08) : layer.fillOpacity};
        },
        pointToLayer: function (f, ll) {
          return L.circleMarker(ll, {renderer: renderer, radius: 5});
        },
        onEachFeature: function (f, lyr) {
          lyr.on("click", function (e) { openPopup(layer, f.properties.i, e.latlng); });
        }
      });
    }

    var overlays = {};
    var drawnResolve;
    var drawn = new Promise(function (res) { drawnResolve = res; });
    function ready() {
      state.ready = true;
      window.requestAnimationFrame(function () {
        window.requestAnimationFrame(function () {
          state.drawnAt = window.performance.now();
          document.documentElement.setAttribute("data-gp-drawn", String(state.drawn));
          document.dispatchEvent(new CustomEvent("geo-publish:drawn"));
          drawnResolve();
        });
      });
    }
    function failed(layer, err) {
      state.failed++;
      layer.error = String(err && err.message || err);
      console.warn("geo-publish: " + layer.error);
    }
    /* ---- rasters: an image overlay, a legend ramp, the value under the cursor ---- */
    var valueBox = null;
    function rasterValue(layer, latlng) {
      var g = layer.grid;
      if (!g) return null;
      var p = L.CRS.EPSG3857.project(latlng), b = g.bounds3857;
      var col = Math.floor((p.x - b[0]) / (b[2] - b[0]) * g.width);
      var row = Math.floor((b[3] - p.y) / (b[3] - b[1]) * g.height);
      if (col < 0 || row < 0 || col >= g.width || row >= g.height) return null;
      return g.values[row * g.width + col];
    }
    function loadGrid(layer) {
      if (!layer.gridPromise) {
        layer.gridPromise = fetch(layer.values).then(function (r) { return r.json(); })
          .then(function (g) { layer.grid = g; }).catch(function (err) { failed(layer, err); });
      }
      return layer.gridPromise;
    }
    var cursor = null;
    function showValue() {
      var shown = cfg.layers.filter(function (l) {
        return l.mode === "raster" && l.leaflet && map.hasLayer(l.leaflet);
      });
      if (!shown.length || !valueBox || !cursor) return;
      var parts = [];
      shown.forEach(function (l) {
        if (!l.grid) { loadGrid(l).then(showValue); return; }
        var v = rasterValue(l, cursor);
        if (v !== null && v !== undefined) parts.push(tr(l.title, lang) + ": " + fmtValue(v) + (l.unit ? " " + l.unit : ""));
      });
      valueBox.textContent = parts.join(" · ");
      valueBox.hidden = !parts.length;
    }
    map.on("mousemove", function (e) { cursor = e.latlng; showValue(); });
    map.on("click", function (e) { cursor = e.latlng; showValue(); });  /* phones: tap */

    var pending = cfg.layers.length;
    cfg.layers.forEach(function (layer) {
      var resolveProps;
      layer.propsReady = new Promise(function (res) { resolveProps = res; });
      if (layer.mode === "raster") {
        layer.leaflet = L.imageOverlay(layer.image, [[layer.bounds[0], layer.bounds[1]],
          [layer.bounds[2], layer.bounds[3]]], {opacity: layer.opacity, interactive: false,
          className: "gp-raster"});
        if (layer.visible) layer.leaflet.addTo(map);
        layer.leaflet.on("load", function () { layer.loaded = true; });
        resolveProps();
        pending--;
        if (pending === 0) window.setTimeout(function () { relabel(); ready(); }, 0);
        return;
      }
      if (layer.mode === "tiles") {
        layer.leaflet = tileLayer(layer);
        resolveProps();
        var done = false, finish = function () {
          if (done) return;
          done = true;
          state.drawn += layer.count;
          pending--;
          relabel();
          if (pending === 0) ready();
        };
        if (layer.visible) {
          layer.leaflet.once("load", finish);
          layer.leaflet.addTo(map);
          window.setTimeout(function () {  /* a tile that never came: the page still settles */
            if (!done) failed(layer, new Error(layer.id + ": tiles did not load"));
            finish();
          }, 20000);
        } else {
          finish();
        }
        return;
      }
      fetch(layer.geom).then(function (r) {
        if (!r.ok) throw new Error(layer.geom + ": HTTP " + r.status);
        return r.json();
      }).then(function (data) {
        layer.leaflet = draw(layer, data);
        if (layer.visible) layer.leaflet.addTo(map);
        if (layer.background) layer.leaflet.bringToBack && layer.leaflet.bringToBack();
        state.drawn += layer.count;
      }).catch(function (err) {
        failed(layer, err);
      }).then(function () {
        pending--;
        relabel();
        if (pending === 0) ready();
        if (layer.error) return null;
        // popup fields once everything is drawn: they are not needed to see the map
        return drawn.then(function () { return fetch(layer.props); }).then(function (r) {
          if (!r.ok) throw new Error(layer.props + ": HTTP " + r.status);
          return r.json();
        }).then(function (props) {
          layer.props = props;
          resolveProps();
        }).catch(function (err) {
          failed(layer, err);
          resolveProps();  // popups then show what is known: the layer and the feature number
          relabel();
        });
      });
    });
    if (!cfg.layers.length) ready();

    /* ---- controls ---- */
    var controls = [];
    var TitleControl = L.Control.extend({
      onAdd: function () {
        var box = el("div", "gp-box gp-title");
        if (cfg.index) {
          var a = el("a", "gp-back", "‹ " + t("all_layers"));
          a.href = cfg.index + "?lang=" + lang;
          box.appendChild(a);
        }
        box.appendChild(el("div", "gp-title-text", cfg.title ? tr(cfg.title, lang) : t("map_all")));
        if (cfg.more && cfg.index) {  /* the main map of a site with many layers: where the others are */
          var more = el("a", "gp-more", t("map_more").replace("{shown}", cfg.more.shown)
            .replace("{total}", cfg.more.total.toLocaleString(lang)));
          more.href = cfg.index + "?lang=" + lang;
          more.id = "gp-more";
          box.appendChild(more);
        }
        /* from which date the data are (each layer's publication), and whether this is the copy
           kept on the device (no connection) */
        var dates = cfg.layers.map(function (l) { return l.created; }).filter(Boolean).sort();
        if (dates.length) {
          var span = dates[0] === dates[dates.length - 1] ? dates[0] : dates[0] + " – " + dates[dates.length - 1];
          var when = el("div", "gp-data-date", t("data_of") + " " + span);
          when.id = "gp-data-date";
          box.appendChild(when);
        }
        if (navigator.onLine === false) {
          var off = el("div", "gp-offline", t("offline"));
          off.id = "gp-offline";
          box.appendChild(off);
        }
        L.DomEvent.disableClickPropagation(box);
        return box;
      }
    });
    var LangControl = L.Control.extend({
      onAdd: function () {
        var box = el("div", "gp-box gp-lang");
        var select = el("select");
        select.setAttribute("aria-label", t("language"));
        select.id = "gp-lang";
        cfg.languages.forEach(function (l) {
          var o = el("option", null, l.name);
          o.value = l.code;
          if (l.code === lang) o.selected = true;
          select.appendChild(o);
        });
        select.addEventListener("change", function () {
          lang = select.value;
          setLang(lang);
          map.closePopup();
          relabel();
          if (state.basemap) state.basemap.rerenderTiles();  /* street names in the new language */
        });
        box.appendChild(select);
        L.DomEvent.disableClickPropagation(box);
        return box;
      }
    });
    var LegendControl = L.Control.extend({
      onAdd: function () {
        var box = el("div", "gp-box gp-legend");
        box.appendChild(el("div", "gp-legend-title", t("legend")));
        cfg.layers.forEach(function (layer) {
          if (layer.mode === "raster") {
            box.appendChild(rasterLegend(layer));
            return;
          }
          var row = el("div", "gp-legend-row");
          var shape = layer.mode === "shapes" || (layer.mode === "tiles" && layer.kind !== "point");
          var sw = el("span", shape ? "gp-swatch" : "gp-swatch gp-swatch-point");
          sw.style.setProperty("--gp-c", layer.color);
          if (layer.mode === "markers" || layer.mode === "cluster") {
            sw.appendChild(el("i", "fa-solid fa-" + layer.icon));
          }
          row.appendChild(sw);
          row.appendChild(el("span", null, tr(layer.title, lang) + " (" + fmtValue(layer.count) + ")"));
          if (layer.error) row.appendChild(el("span", "gp-error", " – " + t("load_failed")));
          box.appendChild(row);
        });
        return box;
      }
    });
    function rasterLegend(layer) {
      var wrap = el("div", "gp-legend-raster");
      wrap.appendChild(el("div", null, tr(layer.title, lang) + (layer.unit ? " (" + layer.unit + ")" : "")));
      var stops = layer.ramp, lo = stops[0][0], hi = stops[stops.length - 1][0];
      var bar = el("div", "gp-ramp");
      bar.style.background = "linear-gradient(to right, " + stops.map(function (s) {
        return s[1] + " " + ((s[0] - lo) / (hi - lo) * 100).toFixed(1) + "%";
      }).join(", ") + ")";
      wrap.appendChild(bar);
      var labels = el("div", "gp-ramp-labels");
      labels.appendChild(el("span", null, fmtValue(lo)));
      labels.appendChild(el("span", null, fmtValue(hi)));
      wrap.appendChild(labels);
      var slider = el("input", "gp-opacity");
      slider.type = "range"; slider.min = "0"; slider.max = "1"; slider.step = "0.05";
      slider.value = String(layer.opacity);
      slider.setAttribute("aria-label", t("opacity") + ": " + tr(layer.title, lang));
      slider.addEventListener("input", function () {
        layer.opacity = parseFloat(slider.value);
        if (layer.leaflet) layer.leaflet.setOpacity(layer.opacity);
      });
      L.DomEvent.disableClickPropagation(slider);
      wrap.appendChild(slider);
      return wrap;
    }
    var ValueControl = L.Control.extend({
      onAdd: function () {
        valueBox = valueBox || el("div", "gp-box gp-value");
        valueBox.hidden = true;
        return valueBox;
      }
    });
    var you = null, nearestBox = null, lastPos = null;
    /* The five nearest features: from the layers' own files, and for a tiled layer from the
       API (features in a box around the position, the box growing until five lie within the
       circle it holds, or shrinking while the API pages the answer). */
    function nearestHere(lat, lon) {
      var best = [];
      cfg.layers.forEach(function (layer) {
        if (layer.background || !layer.leaflet || !map.hasLayer(layer.leaflet)) return;
        var c = layer.points || layer.centres;
        if (!c) return;
        for (var i = 0, n = c.length / 2; i < n; i++) {
          var d = haversine(lat, lon, c[2 * i + 1], c[2 * i]);
          if (best.length < 5 || d < best[best.length - 1].d) {
            best.push({d: d, layer: layer, i: i});
            best.sort(function (a, b) { return a.d - b.d; });
            if (best.length > 5) best.pop();
          }
        }
      });
      return best.map(function (h) { return {d: h.d, rec: rowRecord(h.layer, h.i)}; });
    }
    function centre(g) {
      var pts = [];
      (function walk(c) {
        if (typeof c[0] === "number") pts.push(c); else c.forEach(walk);
      }(g.coordinates));
      var x = 0, y = 0;
      pts.forEach(function (p) { x += p[0]; y += p[1]; });
      return pts.length ? [y / pts.length, x / pts.length] : null;
    }
    function nearestFromApi(layer, lat, lon) {
      var r = 1000, lo = 0, hi = Infinity, last = [], limit = 500;
      var b = layer.bbox, far = b ? Math.max(haversine(lat, lon, b[1], b[0]), haversine(lat, lon, b[3], b[2]),
                                              haversine(lat, lon, b[1], b[2]), haversine(lat, lon, b[3], b[0])) : 2e7;
      function step(tries) {
        var dLat = r / 111320, dLon = r / (111320 * Math.max(0.01, Math.cos(lat * Math.PI / 180)));
        var box = [lon - dLon, Math.max(-90, lat - dLat), lon + dLon, Math.min(90, lat + dLat)];
        var url = cfg.api + "/collections/" + encodeURIComponent(layer.id) + "/items?f=json&limit=" + limit +
          "&bbox=" + box.map(function (v) { return v.toFixed(6); }).join(",");
        return fetch(url).then(function (resp) {
          if (!resp.ok) throw new Error(url + ": HTTP " + resp.status);
          return resp.json();
        }).then(function (fc) {
          var feats = fc.features || [];
          var paged = feats.length >= limit || (fc.numberMatched || 0) > feats.length;
          var hits = [];
          feats.forEach(function (f) {
            var c = f.geometry && centre(f.geometry);
            if (c) hits.push({d: haversine(lat, lon, c[0], c[1]), rec: propsRecord(layer, f.id, f.properties, c)});
          });
          hits.sort(function (a, b2) { return a.d - b2.d; });
          if (!paged) last = hits;
          var inside = hits.filter(function (h) { return h.d <= r; }).length;
          if (tries >= 12 || (!paged && (inside >= 5 || r >= far))) return (paged ? hits : last).slice(0, 5);
          if (paged) { hi = r; r = lo ? (lo + r) / 2 : r / 4; } else { lo = r; r = hi < Infinity ? (r + hi) / 2 : r * 4; }
          return step(tries + 1);
        });
      }
      return step(0).catch(function () { return []; });  /* offline: the local layers answer */
    }
    /* The tiles around a position of the large layers styled offline: true, and of the base
       map, fetched once the service worker is in control, which keeps them: the tile under
       the position at every zoom, and the 3 x 3 around it at the four deepest (the base map:
       5 x 5 at its two deepest, some 9 km of streets across at zoom 14). */
    function keepAround(lat, lon) {
      if (!("serviceWorker" in navigator) || !window.protomapsL) return;
      var sources = cfg.layers.filter(function (l) { return l.mode === "tiles" && l.offline && !l.error; })
        .map(function (l) {
          return {id: l.id, url: cfg.api ? null : l.tiles, maxzoom: l.maxzoom,
                  reach: function (z) { return z > l.maxzoom - 4 ? 1 : 0; }};
        });
      if (cfg.basemap) {
        var bm = cfg.basemap;
        sources.push({url: bm.url, maxzoom: bm.maxzoom, reach: function (z) {
          return z > bm.maxzoom - 2 ? 2 : z > bm.maxzoom - 4 ? 1 : 0; }});
      }
      if (!sources.length) return;
      new Promise(function (ok) {
        if (navigator.serviceWorker.controller) ok();
        else navigator.serviceWorker.addEventListener("controllerchange", ok, {once: true});
      }).then(function () {
        var chain = Promise.resolve();
        sources.forEach(function (src) {
          var archive = src.url ? new window.protomapsL.PmtilesSource(src.url, false) : null;
          for (var z = 0; z <= src.maxzoom; z++) {
            var n = 1 << z, x = Math.floor((lon + 180) / 360 * n), rad = lat * Math.PI / 180;
            var y = Math.floor((1 - Math.log(Math.tan(rad) + 1 / Math.cos(rad)) / Math.PI) / 2 * n);
            var r = src.reach(z);
            for (var dx = -r; dx <= r; dx++) for (var dy = -r; dy <= r; dy++) {
              (function (tz, tx, ty) {
                if (tx < 0 || ty < 0 || tx >= (1 << tz) || ty >= (1 << tz)) return;
                chain = chain.then(function () {
                  return archive ? archive.get({z: tz, x: tx, y: ty}, 256) :
                    fetch(cfg.api + "/collections/" + encodeURIComponent(src.id) +
                          "/tiles/WebMercatorQuad/" + tz + "/" + ty + "/" + tx);
                }).catch(function () { /* kept as far as the network allows */ });
              })(z, x + dx, y + dy);
            }
          }
        });
        return chain;
      }).then(function () { document.documentElement.setAttribute("data-gp-kept-around", "1"); });
    }
    function nearest(lat, lon) {
      var asks = cfg.layers.filter(function (layer) {
        return layer.mode === "tiles" && cfg.api && !layer.background && layer.leaflet && map.hasLayer(layer.leaflet);
      }).map(function (layer) { return nearestFromApi(layer, lat, lon); });
      return Promise.all(asks).then(function (lists) {
        var all = nearestHere(lat, lon);
        lists.forEach(function (l) { all = all.concat(l); });
        all.sort(function (a, b) { return a.d - b.d; });
        return all.slice(0, 5);
      });
    }
    function distanceText(d) {
      return d < 1000 ? Math.round(d) + " " + t("m") : (d / 1000).toFixed(d < 10000 ? 1 : 0) + " " + t("km");
    }
    function hideList() {
      nearestBox.hidden = true;
      map.getContainer().classList.remove("gp-sheet-open");
    }
    /* A list of places in the sheet (nearest, or found by name): each a button that shows the
       place on the map with its popup. */
    function showList(title, list, empty) {
      nearestBox.innerHTML = "";
      var head = el("div", "gp-nearest-head");
      head.appendChild(el("strong", null, title));
      var close = el("button", "gp-close", "×");
      close.title = t("close");
      close.addEventListener("click", hideList);
      head.appendChild(close);
      nearestBox.appendChild(head);
      if (!list.length && empty) nearestBox.appendChild(el("p", "gp-nearest-none", empty));
      var ol = el("ol", "gp-nearest-list");
      list.forEach(function (hit) {
        var li = el("li");
        var b = el("button", "gp-nearest-item");
        b.appendChild(el("span", "gp-nearest-name", featureName(hit.rec)));
        b.appendChild(el("span", "gp-nearest-meta", tr(hit.rec.layer.title, lang) +
                         (hit.d === null || hit.d === undefined ? "" : " · " + distanceText(hit.d))));
        b.addEventListener("click", function () {
          /* the place in the middle of what the sheet leaves of the map */
          map.setView(hit.rec.ll, Math.max(map.getZoom(), 15), {animate: false});
          var sheet = sheetHeight(), top = topClear();
          if (sheet) map.panBy([0, (sheet - top) / 2], {animate: false});
          showPopup(hit.rec);
        });
        li.appendChild(b);
        ol.appendChild(li);
      });
      nearestBox.appendChild(ol);
      nearestBox.hidden = false;
      map.getContainer().classList.add("gp-sheet-open");  /* phones: the legend steps aside */
    }
    function showNearest(lat, lon, fit) {
      var waits = cfg.layers.map(function (l) { return l.error ? null : l.propsReady; });
      Promise.all(waits).then(function () { return nearest(lat, lon); }).then(function (list) {
        showList(t("nearest"), list);
        if (fit && list.length) {
          var pts = list.map(function (h) { return h.rec.ll; });
          pts.push([lat, lon]);
          map.fitBounds(pts, {paddingTopLeft: [30, Math.max(40, topClear())], paddingBottomRight: [30, 40 + sheetHeight()],
                              maxZoom: 16, animate: false});  /* at once: a tap on a result follows */
        }
      });
    }
    /* Find by name: the features of the layers drawn here whose name has every word typed, in
       either script (Uzbek Cyrillic and Latin meet in one Latin spelling, Russian word forms in
       their stem), nearest first when the position is known. The layers' own files answer with
       no connection; a large layer drawn from tiles is asked through the API (its q, with the
       query's longest word in both scripts), when there is one. */
    function nameTerms(v) {
      return v === null || v === undefined ? "" : queryTerms(String(v).toLowerCase()).join(" ");
    }
    function placed(rec) {
      return {rec: rec, d: lastPos ? haversine(lastPos[0], lastPos[1], rec.ll[0], rec.ll[1]) : null};
    }
    function findHere(terms) {
      var found = [];
      cfg.layers.forEach(function (layer) {
        if (layer.background || !layer.label || !layer.props || !layer.props.rows) return;
        if (!layer.names) {
          var k = layer.props.fields.indexOf(layer.label);
          layer.names = layer.props.rows.map(function (r) { return nameTerms(k < 0 ? null : r[k]); });
        }
        for (var i = 0; i < layer.names.length && found.length < 200; i++) {
          if (hasWords(layer.names[i], terms)) found.push(placed(rowRecord(layer, i)));
        }
      });
      return found;
    }
    function findFromApi(layer, q, terms) {
      var longest = queryWords(q.toLowerCase()).reduce(function (a, w) { return stem(w).length > a.length ? stem(w) : a; }, "");
      if (!longest) return Promise.resolve([]);
      var plain = latin(longest), asked = [longest, plain, cyrillic(plain)].filter(function (w, i, all) {
        return w && all.indexOf(w) === i;
      });
      var url = cfg.api + "/collections/" + encodeURIComponent(layer.id) + "/items?f=json&limit=200&q=" +
        encodeURIComponent(asked.join(" "));
      return fetch(url).then(function (r) { return r.ok ? r.json() : {features: []}; }).then(function (fc) {
        var hits = [];
        (fc.features || []).forEach(function (f) {
          var c = f.geometry && centre(f.geometry);
          if (c && hasWords(nameTerms((f.properties || {})[layer.label]), terms)) {
            hits.push(placed(propsRecord(layer, f.id, f.properties, c)));
          }
        });
        return hits;
      }).catch(function () { return []; });  /* offline: the layers' own files answer */
    }
    function findByName(q) {
      var terms = queryTerms(q.toLowerCase());
      if (!terms.length) return Promise.resolve([]);
      var asks = cfg.layers.filter(function (layer) {
        return layer.mode === "tiles" && cfg.api && layer.label && !layer.background && !layer.error;
      }).map(function (layer) { return findFromApi(layer, q, terms); });
      return Promise.all(asks).then(function (lists) {
        var found = findHere(terms);
        lists.forEach(function (l) { found = found.concat(l); });
        if (lastPos) found.sort(function (a, b) { return a.d - b.d; });
        return found.slice(0, 10);
      });
    }
    var params = new URLSearchParams(window.location.search);
    var findText = params.get("find") || "";  /* opened from the index's search: that name */
    var LocateControl = L.Control.extend({
      onAdd: function () {
        var box = el("div", "gp-box gp-locate");
        var b = el("button", "gp-locate-btn");
        b.id = "gp-locate";
        b.appendChild(el("i", "fa-solid fa-location-crosshairs"));
        b.appendChild(el("span", null, " " + t("locate")));
        if (!nearestBox) {
          nearestBox = el("div", "gp-nearest");
          nearestBox.hidden = true;
        }
        b.addEventListener("click", function () {
          nearestBox.hidden = false;
          nearestBox.textContent = t("locating");
          if (!navigator.geolocation) { nearestBox.textContent = t("no_position"); return; }
          navigator.geolocation.getCurrentPosition(function (pos) {
            var lat = pos.coords.latitude, lon = pos.coords.longitude;
            if (you) map.removeLayer(you);
            you = L.circleMarker([lat, lon], {radius: 8, color: "#ffffff", weight: 3,
              fillColor: "#2563eb", fillOpacity: 1}).addTo(map);
            you.bindTooltip(t("you"));
            lastPos = [lat, lon];
            keepAround(lat, lon);
            showNearest(lat, lon, true);
          }, function () {
            nearestBox.textContent = t("no_position");
          }, {enableHighAccuracy: true, timeout: 15000, maximumAge: 60000});
        });
        box.appendChild(b);
        var find = el("input", "gp-find");
        find.type = "search";
        find.id = "gp-find";
        find.placeholder = t("find_place");
        find.setAttribute("aria-label", t("find_place"));
        find.setAttribute("autocomplete", "off");
        find.value = findText;  /* the controls are made again on a change of language */
        var timer = null;
        find.addEventListener("input", function () {
          window.clearTimeout(timer);
          findText = find.value;
          timer = window.setTimeout(function () {
            var q = find.value.trim();
            if (!q) { hideList(); return; }
            var waits = cfg.layers.map(function (l) { return l.error ? null : l.propsReady; });
            Promise.all(waits).then(function () { return findByName(q); }).then(function (list) {
              if (find.value.trim() === q) showList(t("found"), list, t("not_found"));  /* not a stale answer */
            });
          }, 150);
        });
        box.appendChild(find);
        box.appendChild(nearestBox);
        L.DomEvent.disableClickPropagation(box);
        L.DomEvent.disableScrollPropagation(box);
        return box;
      }
    });

    var small = window.matchMedia("(max-width: 640px)").matches;
    function relabel() {
      controls.forEach(function (c) { map.removeControl(c); });
      overlays = {};
      cfg.layers.forEach(function (layer) {
        if (layer.leaflet) overlays[escapeHtml(tr(layer.title, lang))] = layer.leaflet;
      });
      controls = [
        new TitleControl({position: "topleft"}),
        new LocateControl({position: "topleft"}),
        new LangControl({position: "topright"}),
        L.control.layers(null, overlays, {collapsed: small, position: "topright"}),
        new LegendControl({position: "bottomright"}),
        new ValueControl({position: "bottomleft"})
      ];
      controls.forEach(function (c) { c.addTo(map); });
      if (lastPos && nearestBox && !nearestBox.hidden) showNearest(lastPos[0], lastPos[1]);
    }
    relabel();
    if (findText) document.getElementById("gp-find").dispatchEvent(new Event("input"));
    /* the emergency page, opened from the index's button: the position is asked at once */
    if (cfg.locate && params.get("nearest") === "1") {
      var go = document.getElementById("gp-locate");
      if (go) go.click();
    }
  }

  window.geoPublish = {start: start, index: index, escapeHtml: escapeHtml};
}());
