// The key, when the server has one, comes from the page's #key=... fragment (never sent to the server as a URL).
var key = (location.hash.match(/key=([^&]+)/) || [])[1];
function get(url, opts) {
  opts = opts || {}; opts.headers = opts.headers || {};
  if (key) opts.headers["Authorization"] = "Bearer " + decodeURIComponent(key);
  return fetch(url, opts);
}
function loadModels() {
  get("/v1/models").then(function (r) { return r.json(); }).then(function (data) {
    var ul = document.getElementById("models"), sel = document.getElementById("model");
    ul.innerHTML = ""; sel.innerHTML = "";
    (data.models || []).forEach(function (m) {
      var li = document.createElement("li"); li.className = "model"; li.setAttribute("data-name", m.name);
      li.textContent = m.name + " (" + m.task + ", " + m.platform + "): " + m.inputs.map(function (i) {
        return i.name + " " + i.datatype + " [" + i.shape.join(", ") + "]"; }).join("; ");
      ul.appendChild(li);
      var o = document.createElement("option"); o.value = m.name; o.textContent = m.name; sel.appendChild(o);
    });
  });
}
function loadMetrics() {
  get("/metrics").then(function (r) { return r.text(); }).then(function (t) {
    document.getElementById("metrics").textContent = t.split("\n").filter(function (l) {
      return l.indexOf("omdeploy_requests_total") === 0 || l.indexOf("omdeploy_queue_depth") === 0; }).join("\n");
  });
}
document.getElementById("go").onclick = function () {
  var f = document.getElementById("file").files[0]; if (!f) return;
  get("/v1/models/" + document.getElementById("model").value + "/predict",
      {method: "POST", body: f, headers: {"Content-Type": f.type || "image/jpeg"}})
    .then(function (r) { return r.json(); })
    .then(function (j) { document.getElementById("result").textContent = JSON.stringify(j, null, 2); });
};
loadModels(); loadMetrics(); setInterval(loadMetrics, 5000);
