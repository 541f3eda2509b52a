<?php
// php -S router: answers with what PHP parsed ($_GET, $_POST, $_REQUEST, $_COOKIE, $_SERVER).
// Run twice: with Debian's php.ini (request_order = "GP") and with none (`php -n`, as in the
// official container images), where $_REQUEST follows variables_order "EGPCS" and so also
// holds the cookies.
$headers = [];
foreach ($_SERVER as $k => $v) {
    if (strncmp($k, 'HTTP_', 5) === 0) {
        $headers[strtolower(str_replace('_', '-', substr($k, 5)))] = $v;
    }
}
if (isset($_SERVER['CONTENT_TYPE'])) {
    $headers['content-type'] = $_SERVER['CONTENT_TYPE'];
}
$json = null;
$ct = $_SERVER['CONTENT_TYPE'] ?? '';
if (stripos($ct, 'application/json') === 0) {
    $json = json_decode(file_get_contents('php://input'), true);
}
header('Content-Type: application/json');
echo json_encode([
    'parser' => 'php',
    'path' => parse_url($_SERVER['REQUEST_URI'], PHP_URL_PATH),
    'query' => $_GET,
    'form' => $_POST,
    'params' => $_REQUEST,
    'cookies' => $_COOKIE,
    'json' => $json,
    'headers' => $headers,
    'cookies' => $_COOKIE,
], JSON_INVALID_UTF8_SUBSTITUTE | JSON_PARTIAL_OUTPUT_ON_ERROR);
