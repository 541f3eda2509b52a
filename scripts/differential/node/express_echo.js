// express + body-parser (qs, extended) echo upstream: answers with what express parsed.
'use strict';
const express = require('express');
const bodyParser = require('body-parser');
const cookie = require('cookie'); // express's own dependency: what cookie-parser reads with

const app = express();
app.set('query parser', 'extended'); // qs, as express 4 does by default
app.use(bodyParser.urlencoded({ extended: true }));
app.use(bodyParser.json());
app.all('*', (req, res) => {
  const isForm = req.is('application/x-www-form-urlencoded');
  const isJson = req.is('application/json');
  // req.param(name): route params, then the body, then the query (express 4).
  const params = {};
  const bodyKeys = req.body && typeof req.body === 'object' ? Object.keys(req.body) : [];
  for (const k of [...bodyKeys, ...Object.keys(req.query)]) {
    params[k] = req.param(k);
  }
  res.json({
    parser: 'express',
    params,
    path: req.path,
    query: req.query,
    form: isForm ? req.body : {},
    json: isJson ? req.body : null,
    headers: req.headers,
    cookies: cookie.parse(req.headers.cookie || ''),
  });
});
app.use((err, req, res, next) => { // body-parser errors: a 4xx of the recipient's own
  res.status(err.status || 500).json({ parser: 'express', error: String(err.type || err.message) });
});
app.listen(Number(process.argv[2]), '127.0.0.1');
