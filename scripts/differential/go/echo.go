// net/http echo upstream: answers with what Go's ParseForm (and encoding/json) parsed.
package main

import (
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"os"
	"strings"
)

func echo(w http.ResponseWriter, r *http.Request) {
	out := map[string]any{"parser": "go", "path": r.URL.Path}
	if err := r.ParseForm(); err != nil {
		out["error"] = err.Error()
	}
	out["query"] = r.URL.Query()
	out["form"] = r.PostForm
	if ct, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err == nil && ct == "application/json" {
		var v any
		body, _ := io.ReadAll(r.Body)
		if json.Unmarshal(body, &v) == nil {
			out["json"] = v
		}
	}
	headers := map[string]string{}
	for k, v := range r.Header {
		headers[strings.ToLower(k)] = strings.Join(v, ", ")
	}
	out["headers"] = headers
	cookies := map[string][]string{}
	for _, c := range r.Cookies() {
		cookies[c.Name] = append(cookies[c.Name], c.Value)
	}
	out["cookies"] = cookies
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out)
}

func main() {
	_ = http.ListenAndServe("127.0.0.1:"+os.Args[1], http.HandlerFunc(echo))
}
