// encoding/json struct-binding echo upstream: decodes every request body as JSON into a
// struct, the way Go handlers commonly do (`json.NewDecoder(r.Body).Decode(&v)`, whatever the
// Content-Type), and answers with the fields it bound. encoding/json matches member names to
// field tags case-insensitively (with Unicode folding: `ſ` is `s`, the Kelvin sign `k`), and
// the last of duplicate members wins.
package main

import (
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"net/url"
	"os"
	"strings"
)

type user struct {
	Email any `json:"email"`
	Name  any `json:"name"`
}

type payload struct {
	Email     any   `json:"email"`
	UserEmail any   `json:"user_email"`
	Plan      any   `json:"plan"`
	User      *user `json:"user"`
}

func echo(w http.ResponseWriter, r *http.Request) {
	out := map[string]any{"parser": "gostruct", "path": r.URL.Path, "query": r.URL.Query()}
	body, _ := io.ReadAll(r.Body)
	if ct, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err == nil && ct == "application/x-www-form-urlencoded" {
		if form, err := url.ParseQuery(string(body)); err == nil {
			out["form"] = form
		}
	}
	var p payload
	if err := json.Unmarshal(body, &p); err == nil {
		out["bound"] = p
	} else if len(body) > 0 {
		out["error"] = "json: " + err.Error()
	}
	cookies := map[string][]string{}
	for _, c := range r.Cookies() {
		cookies[c.Name] = append(cookies[c.Name], c.Value)
	}
	out["cookies"] = cookies
	headers := map[string]string{}
	for k, v := range r.Header {
		headers[strings.ToLower(k)] = strings.Join(v, ", ")
	}
	out["headers"] = headers
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out)
}

func main() {
	_ = http.ListenAndServe("127.0.0.1:"+os.Args[1], http.HandlerFunc(echo))
}
