/* The analysts' modeler page (pages_modeler.py): one workspace file in its bpmn.io editor.
 *
 * #modeler reads <script type="application/json" id="modeler-data">: {workspace, filename, kind, content,
 * select, validate, urls}. The editor is the bpmn-js Modeler (global BpmnJS) with the Camunda 7 properties
 * panel (global BpmnJSPropertiesPanel + the camunda moddle descriptor), dmn-js (global DmnJS) or the form-js
 * editor (global FormEditor). Save, Validate, Deploy and Try call the page's JSON endpoints with the session
 * and the CSRF token (X-CSRFToken); Validate, Deploy and Try save unsaved edits first. Problems are listed per
 * element; clicking one selects the element (another file: opens it there). Deploy is refused (409) when a newer
 * version was deployed after the drafts were started: #modeler-stale then offers to rebase them. The bpmn.io
 * watermarks the editors draw stay visible (their licence requires it).
 */
(function () {
  'use strict';

  var root = document.getElementById('modeler');
  if (!root) { return; }
  var config = JSON.parse(document.getElementById(root.dataset.config).textContent);
  var statusLine = document.getElementById('modeler-status');
  var problemsBox = document.getElementById('modeler-problems');
  var host = document.getElementById('modeler-canvas');
  var editor = null;     // {content(): Promise<string>, select(id), mark(ids)}
  var dirty = false;
  var busy = false;

  function say(text, state) {
    statusLine.textContent = text;
    statusLine.dataset.state = state || 'info';
  }

  function element(tag, className, text) {
    var node = document.createElement(tag);
    if (className) { node.className = className; }
    if (text !== undefined) { node.textContent = text; }
    return node;
  }

  function post(url, body, contentType) {
    return fetch(url, {
      method: 'POST', credentials: 'same-origin', body: body,
      headers: { 'X-CSRFToken': root.dataset.csrf, 'Content-Type': contentType || 'application/json',
                 'Accept': 'application/json' }
    }).then(function (response) {
      return response.text().then(function (text) {
        var data = null;
        try { data = JSON.parse(text); } catch (ignored) { /* an HTML page: see below */ }
        if (!data || typeof data !== 'object' || response.redirected) {
          // the sign-in page (signed out meanwhile), the CSRF page, an error page: nothing was done
          return { ok: false, httpStatus: response.status,
                   detail: response.redirected ? 'you are signed out: sign in again in another tab, then retry.'
                         : response.status === 400 ? 'the page has expired: copy your edits, reload it and retry.'
                         : 'unexpected answer from the server (' + response.status + ').' };
        }
        data.httpStatus = response.status;
        data.ok = response.ok;
        return data;
      });
    }, function () {
      return { ok: false, httpStatus: 0, detail: 'the server cannot be reached.' };
    });
  }

  function markDirty() {
    if (!dirty) { dirty = true; root.dataset.dirty = 'true'; say('Unsaved changes.', 'dirty'); }
  }

  function showFiles(files) {
    (files || []).forEach(function (file) {
      var tab = document.querySelector('#modeler-files a[data-file="' + CSS.escape(file.filename) + '"]');
      if (tab) { tab.classList.toggle('draft', !!file.draft); }
    });
    document.getElementById('modeler-discard').disabled = !(files || []).some(function (f) { return f.draft; });
  }

  /* Save the editor's content as a draft; resolves true when saved (or nothing to save unless forced). */
  function save(force) {
    if (!editor) { return Promise.resolve(false); }
    if (!dirty && !force) { return Promise.resolve(true); }
    say('Saving…', 'busy');
    return editor.content().then(function (text) {
      var type = config.kind === 'form' ? 'application/json' : 'application/xml';
      return post(config.urls.save, text, type);
    }).then(function (answer) {
      if (!answer.ok) { say('Not saved: ' + answer.detail, 'error'); return false; }
      dirty = false;
      root.dataset.dirty = 'false';
      showFiles(answer.files);
      say('Draft saved. Running instances are not affected until you deploy.', 'saved');
      return true;
    }, function (error) {
      say('Not saved: ' + (error && error.message || error), 'error');
      return false;
    });
  }

  function problemLabel(problem) {
    return (problem.file || '') + (problem.element_id ? ' · ' + problem.element_id : '');
  }

  function showProblems(problems) {
    var list = problemsBox.querySelector('ul');
    list.replaceChildren();
    problems.forEach(function (problem) {
      var item = element('li');
      var button = element('button', 'problem');
      button.type = 'button';
      button.dataset.file = problem.file || '';
      button.dataset.elementId = problem.element_id || '';
      button.appendChild(element('strong', null, problemLabel(problem)));
      button.appendChild(document.createTextNode(': ' + problem.message));
      button.addEventListener('click', function () { goTo(problem); });
      item.appendChild(button);
      list.appendChild(item);
    });
    problemsBox.hidden = !problems.length;
    if (editor) {
      editor.mark(problems.filter(function (p) { return p.file === config.filename && p.element_id; })
                          .map(function (p) { return p.element_id; }));
    }
  }

  function goTo(problem) {
    if (!problem.file || problem.file === config.filename) {
      if (problem.element_id && editor) { editor.select(problem.element_id); }
      return;
    }
    save(false).then(function (saved) {
      if (!saved) { return; }
      var query = '?file=' + encodeURIComponent(problem.file) + '&validate=1' +
                  (problem.element_id ? '&select=' + encodeURIComponent(problem.element_id) : '');
      window.location.assign(config.urls.file + query);
    });
  }

  function guarded(action) {
    return function () {
      if (busy || !editor) { return; }
      busy = true;
      root.dataset.busy = 'true';
      Promise.resolve(action()).then(function () { busy = false; root.dataset.busy = 'false'; });
    };
  }

  function validate() {
    return save(false).then(function (saved) {
      if (!saved) { return; }
      say('Validating…', 'busy');
      return post(config.urls.validate, '{}').then(function (answer) {
        if (!answer.ok) { say('Could not validate: ' + answer.detail, 'error'); return; }
        showProblems(answer.problems);
        say(answer.valid ? 'No problems: the workspace can be deployed.'
                         : answer.problems.length + ' problem' + (answer.problems.length > 1 ? 's' : '') +
                           ': fix them before deploying.', answer.valid ? 'valid' : 'invalid');
      });
    });
  }

  function deploy() {
    return save(false).then(function (saved) {
      if (!saved) { return; }
      say('Deploying…', 'busy');
      return post(config.urls.deploy, '{}').then(function (answer) {
        if (answer.ok) {
          if (answer.workspace && answer.workspace !== config.workspace) {
            window.location.assign(answer.url);   // a new workspace, known by its process id from now on
            return;
          }
          showProblems([]);
          showFiles(answer.files);
          var stale = document.getElementById('modeler-stale');
          if (stale) { stale.hidden = true; }
          var versions = (answer.versions || []).map(function (v) { return v.processKey + ' v' + v.version; }).join(', ');
          say(answer.created ? 'Deployed ' + versions + ': new instances use it; running ones keep their version.'
                             : 'Nothing new to deploy: these files are deployed already (' + versions + ').', 'deployed');
          return;
        }
        if (answer.problems) { showProblems(answer.problems); }
        // 409: a newer version was deployed after the drafts were started (the page shows it after a reload)
        say('Not deployed: ' + answer.detail, 'refused');
        var staleBox = document.getElementById('modeler-stale');
        if (staleBox && answer.deployedAfter && answer.deployedAfter.length) {
          document.getElementById('stale-versions').textContent = answer.deployedAfter.map(function (n) {
            return n.processKey + ' version ' + n.version;
          }).join(', ');
          staleBox.hidden = false;
        }
      });
    });
  }

  document.getElementById('modeler-save').addEventListener('click', guarded(function () { return save(true); }));
  document.getElementById('modeler-validate').addEventListener('click', guarded(validate));
  document.getElementById('modeler-deploy').addEventListener('click', guarded(deploy));
  document.getElementById('discard-form').addEventListener('submit', function () { dirty = false; });
  document.querySelectorAll('#modeler-files a').forEach(function (tab) {
    tab.addEventListener('click', function (event) {
      if (!dirty) { return; }
      event.preventDefault();     // keep the edits: save, then open the other file
      save(false).then(function (saved) { if (saved) { window.location.assign(tab.href); } });
    });
  });
  window.addEventListener('beforeunload', function (event) {
    if (dirty) { event.preventDefault(); event.returnValue = ''; }
  });

  /* --- BPMN: bpmn-js Modeler with the Camunda 7 properties panel ------------------------------------ */

  function bpmnEditor() {
    var panel = window.BpmnJSPropertiesPanel;
    if (typeof window.BpmnJS !== 'function' || !panel) {
      return Promise.reject(new Error('The BPMN modeler is not installed (run make install).'));
    }
    return fetch(config.urls.camundaModdle, { credentials: 'same-origin' }).then(function (response) {
      if (!response.ok) { throw new Error('The Camunda moddle descriptor is missing (run make install).'); }
      return response.json();
    }).then(function (camunda) {
      var modeler = new window.BpmnJS({
        container: host,
        propertiesPanel: { parent: '#modeler-properties', tooltip: panel.CamundaPlatformTooltipProvider },
        additionalModules: [panel.BpmnPropertiesPanelModule, panel.BpmnPropertiesProviderModule,
                            panel.CamundaPlatformPropertiesProviderModule],
        moddleExtensions: { camunda: camunda }
      });
      return modeler.importXML(config.content).then(function (result) {
        var canvas = modeler.get('canvas');
        var registry = modeler.get('elementRegistry');
        var marked = [];
        fitBesidePalette(canvas);
        modeler.on('commandStack.changed', markDirty);
        return {
          warnings: result.warnings || [],
          content: function () {
            return modeler.saveXML({ format: true }).then(function (saved) { return saved.xml; });
          },
          select: function (id) {
            var shape = registry.get(id);
            if (!shape) { say('Element ' + id + ' is not in the diagram.', 'info'); return; }
            modeler.get('selection').select(shape);
            canvas.scrollToElement(shape);
            root.dataset.selected = id;
          },
          mark: function (ids) {
            marked.forEach(function (id) { if (registry.get(id)) { canvas.removeMarker(id, 'lanes-problem'); } });
            marked = ids.filter(function (id) { return registry.get(id); });
            marked.forEach(function (id) { canvas.addMarker(id, 'lanes-problem'); });
          }
        };
      });
    });
  }

  /* The whole diagram, as large as fits (at most 100 %), right of the palette rather than under it. */
  function fitBesidePalette(canvas) {
    var box = canvas.viewbox();
    var inner = box.inner;
    var outer = box.outer;
    var left = 130;   // the palette's width and margin, in screen pixels
    var pad = 20;
    if (!inner.width || !inner.height) { return; }
    var scale = Math.min(1, (outer.width - left - pad) / inner.width, (outer.height - 2 * pad) / inner.height);
    canvas.viewbox({ x: inner.x - left / scale, y: inner.y - (outer.height / scale - inner.height) / 2,
                     width: outer.width / scale, height: outer.height / scale });
  }

  /* --- DMN: dmn-js (decision tables, DRD, literal expressions) and "Try the rules" ------------------ */

  function dmnEditor() {
    if (typeof window.DmnJS !== 'function') {
      return Promise.reject(new Error('The DMN editor is not installed (run make install).'));
    }
    var modeler = new window.DmnJS({ container: host });
    var watched = [];

    function watchActiveViewer() {
      var viewer = modeler.getActiveViewer();
      if (viewer && watched.indexOf(viewer) < 0) {
        watched.push(viewer);
        viewer.on('commandStack.changed', function () { markDirty(); clearHighlights(); });
        viewer.on('elements.changed', refreshTryInputs);
      }
    }

    // dmn-js switches between the DRD and the decisions itself ("View DRD", drill-down icons)
    modeler.on('views.changed', function () { watchActiveViewer(); refreshTryInputs(); });

    return modeler.importXML(config.content).then(function (result) {
      var table = modeler.getViews().filter(function (view) { return view.type === 'decisionTable'; })[0];
      var opened = table && modeler.getActiveView() !== table ? modeler.open(table) : Promise.resolve();
      return opened.then(function () {
        watchActiveViewer();
        refreshTryInputs();
        setUpTry(modeler);
        return {
          warnings: result.warnings || [],
          content: function () {
            return modeler.saveXML({ format: true }).then(function (saved) { return saved.xml; });
          },
          select: function (id) { selectInTable(modeler, id); },
          mark: function () {}
        };
      });
    });

    function refreshTryInputs() { renderTryInputs(activeDecision(modeler)); }
  }

  function activeDecision(modeler) {
    var view = modeler.getActiveView();
    if (!view || view.type !== 'decisionTable') { return null; }
    var table = view.element.decisionLogic;
    return {
      key: view.element.id,
      name: view.element.name || view.element.id,
      inputs: (table && table.input || []).map(function (input) {
        var expression = input.inputExpression || {};
        return { label: input.label || expression.text || input.id, name: (expression.text || '').trim(),
                 typeRef: (expression.typeRef || '').toLowerCase() };
      })
    };
  }

  function selectInTable(modeler, id) {
    var view = modeler.getViews().filter(function (v) { return v.element.id === id; })[0];
    if (view) { modeler.open(view); return; }
    var escaped = CSS.escape(id);
    var cell = host.querySelector('[data-element-id="' + escaped + '"], [data-row-id="' + escaped + '"], [data-col-id="' + escaped + '"]');
    if (!cell) { say('Element ' + id + ' is not in this table.', 'info'); return; }
    host.querySelectorAll('.lanes-problem').forEach(function (node) { node.classList.remove('lanes-problem'); });
    (cell.closest('tr') || cell).classList.add('lanes-problem');
    cell.scrollIntoView({ block: 'nearest', inline: 'nearest' });
    root.dataset.selected = id;
  }

  var tryForm = document.getElementById('try-form');
  var tryInputs = document.getElementById('try-inputs');
  var tryResult = document.getElementById('try-result');
  var trySignature = null;

  function renderTryInputs(decision) {
    if (!tryForm) { return; }
    var signature = decision ? JSON.stringify(decision) : '';
    if (signature === trySignature) { return; }
    trySignature = signature;
    var previous = {};
    tryInputs.querySelectorAll('input').forEach(function (input) { previous[input.name] = input.value; });
    tryInputs.replaceChildren();
    tryForm.hidden = !decision;
    document.getElementById('try-hint').hidden = !decision;
    if (!decision) { return; }
    tryForm.dataset.decision = decision.key;
    decision.inputs.forEach(function (input, index) {
      var id = 'try-input-' + index;
      var label = element('label', null, input.label);
      label.htmlFor = id;
      if (input.name && input.name !== input.label) { label.appendChild(element('code', null, ' ' + input.name)); }
      var field = element('input');
      field.type = 'text';
      field.id = id;
      field.name = input.name;
      field.dataset.type = input.typeRef;
      field.value = previous[input.name] || '';
      field.placeholder = input.typeRef || 'value';
      tryInputs.appendChild(label);
      tryInputs.appendChild(field);
    });
  }

  function typed(text, typeRef) {
    var value = text.trim();
    if (value === '') { return null; }
    if (/^(number|integer|long|double)$/.test(typeRef) && !isNaN(Number(value))) { return Number(value); }
    if (typeRef === 'boolean' && /^(true|false)$/i.test(value)) { return value.toLowerCase() === 'true'; }
    return value;
  }

  function clearHighlights() {
    host.querySelectorAll('.lanes-rule-matched, .lanes-rule-selected').forEach(function (row) {
      row.classList.remove('lanes-rule-matched', 'lanes-rule-selected');
    });
  }

  function highlight(matching, selected) {
    clearHighlights();
    var rows = host.querySelectorAll('.tjs-table > tbody > tr');
    matching.forEach(function (row) { if (rows[row - 1]) { rows[row - 1].classList.add('lanes-rule-matched'); } });
    selected.forEach(function (row) { if (rows[row - 1]) { rows[row - 1].classList.add('lanes-rule-selected'); } });
    var first = selected.length && rows[selected[0] - 1];
    if (first) {   // show the chosen row, from the input columns on
      for (var node = first.parentNode; node && node !== host.parentNode; node = node.parentNode) { node.scrollLeft = 0; }
      first.scrollIntoView({ block: 'nearest' });
    }
  }

  function showTryResult(answer) {
    tryResult.replaceChildren();
    tryResult.hidden = false;
    tryResult.dataset.matching = (answer.matchingRows || []).join(',');
    tryResult.dataset.selected = (answer.selectedRows || []).join(',');
    if (!answer.ok) {
      tryResult.className = 'try-error';
      tryResult.appendChild(element('p', null, answer.detail));
      return;
    }
    tryResult.className = 'try-ok';
    var facts = element('dl', 'facts');
    [['Hit policy', answer.hitPolicy],
     ['Rows matching', answer.matchingRows.length ? answer.matchingRows.join(', ') : 'none'],
     ['Rows chosen', answer.selectedRows.length ? answer.selectedRows.join(', ') : 'none']
    ].forEach(function (pair) {
      facts.appendChild(element('dt', null, pair[0]));
      facts.appendChild(element('dd', null, pair[1]));
    });
    tryResult.appendChild(facts);
    tryResult.appendChild(element('p', 'muted', 'Result'));
    var result = element('pre', 'code', JSON.stringify(answer.result, null, 2));
    result.id = 'try-output';
    tryResult.appendChild(result);
    highlight(answer.matchingRows, answer.selectedRows);
  }

  function setUpTry(modeler) {
    if (!tryForm) { return; }
    tryForm.addEventListener('submit', function (event) {
      event.preventDefault();
      var decision = activeDecision(modeler);
      if (!decision || busy) { return; }
      var variables = {};
      tryInputs.querySelectorAll('input').forEach(function (input) {
        if (input.name) { variables[input.name] = typed(input.value, input.dataset.type); }
      });
      busy = true;
      save(false).then(function (saved) {
        if (!saved) { return; }
        say('Trying ' + decision.name + '…', 'busy');
        return post(config.urls.evaluate.replace('__KEY__', encodeURIComponent(decision.key)),
                    JSON.stringify({ variables: variables })).then(function (answer) {
          showTryResult(answer);
          say(answer.ok ? 'Tried ' + decision.name + ' on the saved draft.' : 'Could not try the rules: ' + answer.detail,
              answer.ok ? 'tried' : 'error');
        });
      }).then(function () { busy = false; });
    });
  }

  /* --- forms: the form-js editor ---------------------------------------------------------------------- */

  function formEditor() {
    if (!window.FormEditor || typeof window.FormEditor.createFormEditor !== 'function') {
      return Promise.reject(new Error('The form editor is not installed (run make install).'));
    }
    var schema = JSON.parse(config.content);
    return window.FormEditor.createFormEditor({ container: host, schema: schema }).then(function (forms) {
      forms.on('changed', markDirty);
      return {
        warnings: [],
        content: function () { return Promise.resolve(JSON.stringify(forms.saveSchema(), null, 2) + '\n'); },
        select: function (id) {
          var field = forms.get('formFieldRegistry').get(id);
          if (field) { forms.get('selection').set(field); root.dataset.selected = id; }
        },
        mark: function () {}
      };
    });
  }

  var open = { bpmn: bpmnEditor, dmn: dmnEditor, form: formEditor }[config.kind];
  open().then(function (ready) {
    editor = ready;
    host.dataset.rendered = 'true';
    say(config.filename + (config.draft ? ' (saved draft)' : ' (as deployed)') +
        (ready.warnings.length ? ': opened with ' + ready.warnings.length + ' import warning(s)' : ''), 'ready');
    if (config.validate) {
      return validate().then(function () { if (config.select) { editor.select(config.select); } });
    }
    if (config.select) { editor.select(config.select); }
  }).catch(function (error) {
    host.dataset.rendered = 'failed';
    say('The editor could not open ' + config.filename + ': ' + (error && error.message || error), 'error');
  });
})();
