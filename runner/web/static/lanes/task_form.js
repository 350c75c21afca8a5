/* A task's Camunda Form in the form-js viewer (global FormViewer), and its completion.
 *
 * <div id="task-form" data-config="ID"> reads <script type="application/json" id="ID"> holding
 * {schema, data, errors, readOnly}: `errors` are the server's, by form component id, shown under the
 * fields after the form is drawn. Forms are created with debounce: false so no typed input is lost.
 * Completing: form-js validates first (errors show next to the fields, nothing is sent); then the
 * data goes, as JSON, in the hidden field of #complete-form to the server, which validates again.
 * The bpmn.io watermark form-js draws stays visible (its licence requires it).
 */
(function () {
  'use strict';

  var host = document.getElementById('task-form');
  if (!host) { return; }
  var config = JSON.parse(document.getElementById(host.dataset.config).textContent);
  var completeForm = document.getElementById('complete-form');
  var status = document.getElementById('form-status');

  function say(message) {
    if (status) { status.textContent = message; status.hidden = !message; }
  }

  function showServerErrors(form) {
    var errors = config.errors || {};
    if (!Object.keys(errors).length || typeof form._setState !== 'function') { return; }
    // after form-js's own first validation pass, which would otherwise replace them
    window.setTimeout(function () {
      var current = form._getState().errors || {};
      form._setState({ errors: Object.assign({}, current, errors) });
      host.dataset.serverErrors = 'shown';
    }, 50);
  }

  if (typeof window.FormViewer === 'undefined') {
    host.dataset.rendered = 'failed';
    host.textContent = 'The form viewer is not installed (run make install).';
    return;
  }

  window.FormViewer.createForm({
    container: host,
    schema: config.schema,
    data: config.data || {},
    debounce: false,
    properties: { readOnly: !!config.readOnly }
  }).then(function (form) {
    host.dataset.rendered = 'true';
    showServerErrors(form);
    if (!completeForm) { return; }
    completeForm.addEventListener('submit', function (event) {
      var result = form.submit();
      var invalid = Object.keys(result.errors || {});
      if (invalid.length) {
        event.preventDefault();
        say('Please correct the marked field' + (invalid.length > 1 ? 's' : '') + ' first.');
        var first = host.querySelector('.fjs-has-errors input, .fjs-has-errors textarea, .fjs-has-errors select');
        if (first) { first.focus(); }
        return;
      }
      say('');
      completeForm.querySelector('input[name="data"]').value = JSON.stringify(result.data);
    });
  }).catch(function (error) {
    host.dataset.rendered = 'failed';
    host.textContent = 'The form could not be shown: ' + (error && error.message || error);
  });
})();
