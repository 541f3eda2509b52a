<?php
// php -S router: answers with what Laravel's Illuminate\Http\Request (Debian's
// php-illuminate-http) reads: input() merges the query with the body (form, or JSON for any
// type containing "/json" or "+json"), all() adds files, cookies as Symfony reads them.
require '/usr/share/php/Illuminate/Http/autoload.php';

$out = ['parser' => 'laravel'];
try {
    $request = Illuminate\Http\Request::capture();
    $out['path'] = '/' . ltrim($request->path(), '/');
    $out['query'] = $request->query->all();
    $out['params'] = $request->input();
    $out['cookies'] = $request->cookies->all();
    $out['headers'] = array_map(fn ($v) => implode(', ', $v), $request->headers->all());
} catch (Throwable $e) {
    $out['error'] = get_class($e);
}
header('Content-Type: application/json');
echo json_encode($out, JSON_INVALID_UTF8_SUBSTITUTE | JSON_PARTIAL_OUTPUT_ON_ERROR);
