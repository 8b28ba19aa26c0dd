<?php
// The application of bench/termination.py's php-fpm pod, behind its nginx: the same answers as
// the lab's nginx pods. /fast.txt: "ok\n"; /slow/N.bin (N = 1..5): 10 KiB in 10 pieces over
// N/10 s, a request in flight; anything else: 404. nginx adds the X-Pod header.
$path = $_SERVER['DOCUMENT_URI'] ?? '';
if ($path === '/fast.txt') {
    header('Content-Length: 3');
    echo "ok\n";
} elseif (preg_match('#^/slow/([1-5])\.bin$#', $path, $found)) {
    header('Content-Length: 10240');
    for ($i = 0; $i < 10; $i++) {
        echo str_repeat('x', 1024);
        flush();
        usleep((int) $found[1] * 10000);
    }
} else {
    http_response_code(404);
    echo "not found\n";
}
