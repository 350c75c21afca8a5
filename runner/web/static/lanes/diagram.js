/* Draw a BPMN diagram with the bpmn-js NavigatedViewer (global BpmnJS) and mark element states.
 *
 * <div data-bpmn-diagram="ID"></div> reads <script type="application/json" id="ID">, which holds
 * {xml, current: [...], completed: [...], failed: [...]} (element ids). Markers are CSS classes on the
 * element's SVG group: lanes-current, lanes-completed, lanes-failed; a current or failed element also gets
 * one overlay badge ("now", "incident", or "now · incident" for a token waiting on an incident). When done, the container gets data-rendered="true" (or "failed" with a message).
 * The bpmn.io watermark bpmn-js draws stays visible (its licence requires it).
 */
(function () {
  'use strict';

  var MARKERS = [['current', 'lanes-current'], ['completed', 'lanes-completed'], ['failed', 'lanes-failed']];

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

  function draw(container) {
    var source = document.getElementById(container.dataset.bpmnDiagram);
    if (!source || typeof window.BpmnJS !== 'function') {
      explain(container, 'The diagram viewer is not installed (run make install).');
      return;
    }
    var data = JSON.parse(source.textContent);
    var viewer = new window.BpmnJS({ container: container });
    viewer.importXML(data.xml).then(function () {
      var canvas = viewer.get('canvas');
      var registry = viewer.get('elementRegistry');
      var overlays = viewer.get('overlays');
      canvas.zoom('fit-viewport', 'auto');
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
