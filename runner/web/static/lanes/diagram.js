/* Draw a BPMN diagram with the bpmn-js NavigatedViewer (global BpmnJS) and mark element states.
 *
 * <div data-bpmn-diagram="ID"></div> reads <script type="application/json" id="ID">, which holds
 * {xml, current: [...], completed: [...], failed: [...]} (element ids). Markers are CSS classes on the
 * element's SVG group: lanes-current, lanes-completed, lanes-failed; a current or failed element also gets
 * one overlay badge ("now", "incident", or "now · incident" for a token waiting on an incident). When done, the container gets data-rendered="true" (or "failed" with a message).
 *
 * Zoom: the diagram is fit to its panel, but never below MIN_ZOOM (labels would be too small to read);
 * a diagram that does not fit at MIN_ZOOM is drawn at MIN_ZOOM, centred on the current step (the current
 * elements, else the failed ones, else the start of the process). The user pans by dragging and zooms with
 * ctrl+wheel (NavigatedViewer) or the buttons of <div data-diagram-zoom="CONTAINER-ID"> (+, −, whole
 * diagram, back to the first view). The viewer is the container's `lanesViewer` property (tests read it).
 * The bpmn.io watermark bpmn-js draws stays visible (its licence requires it).
 */
(function () {
  'use strict';

  var MARKERS = [['current', 'lanes-current'], ['completed', 'lanes-completed'], ['failed', 'lanes-failed']];
  var MIN_ZOOM = 0.8;   // bpmn-js labels are 12px at zoom 1: below 0.8 they shrink under ~10px
  var PAD = 40;         // diagram units kept around the diagram's edges when the view is clamped to them
  var BADGE_ROOM = 24;  // the state badge sits 14px above its element

  function explain(container, message) {
    container.dataset.rendered = 'failed';
    var note = document.createElement('p');
    note.className = 'diagram-note';
    note.textContent = message;
    container.replaceChildren(note);
  }

  function badge(text, kind) {
    var element = document.createElement('span');
    element.className = 'lanes-badge lanes-badge-' + kind;
    element.textContent = text;
    return element;
  }

  // the box around the shapes with these ids (diagram coordinates), or null
  function boxOf(registry, ids) {
    var box = null;
    ids.forEach(function (id) {
      var shape = registry.get(id);
      if (!shape || shape.waypoints) { return; }
      var left = shape.x, top = shape.y - BADGE_ROOM, right = shape.x + shape.width, bottom = shape.y + shape.height;
      box = box ? { left: Math.min(box.left, left), top: Math.min(box.top, top),
                    right: Math.max(box.right, right), bottom: Math.max(box.bottom, bottom) }
                : { left: left, top: top, right: right, bottom: bottom };
    });
    return box;
  }

  // the start of a view `size` long on one axis: centred on `centre`, kept within the diagram [low, high]
  // (plus PAD) when the diagram is longer than the view, centred on the diagram when it is shorter
  function place(centre, size, low, high) {
    if (high - low + 2 * PAD <= size) { return (low + high - size) / 2; }
    return Math.min(Math.max(centre - size / 2, low - PAD), high + PAD - size);
  }

  // fit the diagram; if that is below MIN_ZOOM, MIN_ZOOM around `focus` (a box) instead
  function initialView(canvas, focus) {
    var fitted = canvas.zoom('fit-viewport', 'auto');
    if (fitted >= MIN_ZOOM) { return; }
    var view = canvas.viewbox();
    var inner = view.inner;
    var width = view.outer.width / MIN_ZOOM, height = view.outer.height / MIN_ZOOM;
    // no current step (a process page): the start of the process, at the left edge
    var centreX = focus ? (focus.left + focus.right) / 2 : inner.x - PAD + width / 2;
    var centreY = focus ? (focus.top + focus.bottom) / 2 : inner.y + inner.height / 2;
    canvas.viewbox({
      x: place(centreX, width, inner.x, inner.x + inner.width),
      y: place(centreY, height, inner.y, inner.y + inner.height),
      width: width, height: height
    });
  }

  function wireZoomButtons(container, viewer, reset) {
    var tools = document.querySelector('[data-diagram-zoom="' + container.id + '"]');
    if (!tools) { return; }
    var canvas = viewer.get('canvas');
    var zoomScroll = viewer.get('zoomScroll');
    var actions = {
      in: function () { zoomScroll.stepZoom(1); },
      out: function () { zoomScroll.stepZoom(-1); },
      fit: function () { canvas.zoom('fit-viewport', 'auto'); },
      reset: reset
    };
    tools.querySelectorAll('button[data-zoom]').forEach(function (button) {
      button.addEventListener('click', function () { actions[button.dataset.zoom](); });
    });
    tools.hidden = false;
  }

  function draw(container) {
    var source = document.getElementById(container.dataset.bpmnDiagram);
    if (!source || typeof window.BpmnJS !== 'function') {
      explain(container, 'The diagram viewer is not installed (run make install).');
      return;
    }
    var data = JSON.parse(source.textContent);
    var viewer = new window.BpmnJS({ container: container });
    container.lanesViewer = viewer;
    viewer.importXML(data.xml).then(function () {
      var canvas = viewer.get('canvas');
      var registry = viewer.get('elementRegistry');
      var overlays = viewer.get('overlays');
      var states = {};   // element id -> {current: true, failed: true, ...}
      MARKERS.forEach(function (pair) {
        (data[pair[0]] || []).forEach(function (id) {
          if (!registry.get(id)) { return; }
          canvas.addMarker(id, pair[1]);
          (states[id] = states[id] || {})[pair[0]] = true;
        });
      });
      // one badge per element, above its top left corner: a token waiting on an incident gets one combined
      // badge, never two drawn on top of each other
      Object.keys(states).forEach(function (id) {
        var state = states[id];
        var html = state.failed ? badge(state.current ? 'now · incident' : 'incident', 'failed')
                 : state.current ? badge('now', 'current') : null;
        if (html) { overlays.add(id, 'lanes-state', { position: { top: -14, left: 0 }, html: html }); }
      });
      // the current step: all current elements if they fit the panel together, else the first one
      var focus = boxOf(registry, data.current || []) || boxOf(registry, data.failed || []);
      var outer = canvas.viewbox().outer;
      if (focus && ((focus.right - focus.left) * MIN_ZOOM > outer.width ||
                    (focus.bottom - focus.top) * MIN_ZOOM > outer.height)) {
        focus = boxOf(registry, (data.current || []).concat(data.failed || []).slice(0, 1));
      }
      var reset = function () { initialView(canvas, focus); };
      reset();
      wireZoomButtons(container, viewer, reset);
      container.dataset.rendered = 'true';
    }).catch(function (error) {
      var message = String(error && error.message || error);
      if (/no diagram to display/.test(message)) {
        explain(container, data.filename + ' has no diagram layout (BPMNDiagram): open it in Camunda Modeler and save it to draw one.');
      } else {
        explain(container, 'The diagram could not be drawn: ' + message);
      }
    });
  }

  document.querySelectorAll('[data-bpmn-diagram]').forEach(draw);
})();
