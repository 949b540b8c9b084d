package api

// The public unsubscribe endpoints of list management
// (../shared/spec/ses.md §11.4), on the API listener without SigV4 — the
// token in the path is the capability (contacts.Token):
//
//	POST /unsubscribe/{token}  body List-Unsubscribe=One-Click  RFC 8058 one-click: applied at once, 200
//	GET  /unsubscribe/{token}                                   the preferences page; changes nothing
//	POST /unsubscribe/{token}  body action=save&…               the page's form: applied, page again
//
// GET and HEAD never change anything (mail scanners and link previews fetch
// links). The page's form posts back to the same URL: a forged cross-site
// post would need the token, which is the secret itself, so no separate
// CSRF token is needed.

import (
	"errors"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/petrelmail/petrel/internal/contacts"
)

// Per-IP rate of requests with a valid unsubscribe token: mailbox
// providers send their users' one-click POSTs from a few addresses, so a
// campaign's unsubscribes arrive in bursts from each. A token cannot be
// forged, so these only bound replays; requests with a token that does
// not verify count against the link pages' LinkRate and LinkBurst, which
// bounds guessing.
const (
	UnsubscribeRate  = 50
	UnsubscribeBurst = 1000
)

// MaxUnsubscribeBody bounds the body of a POST to /unsubscribe/{token}:
// the one-click body is 26 bytes, the page's form for 20 topics well under
// this.
const MaxUnsubscribeBody = 16 << 10

// unsubscribePageCSP allows the page's own form and inline style only.
const unsubscribePageCSP = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

// unsubscribe serves /unsubscribe/{token} (see the file comment). Answers:
// 200 (page, or one-click done, or no change), 404 for a token that does
// not verify (a page without detail), 410 when its list or topic was
// deleted (nothing changed), 400 for a POST that is neither one-click nor
// the page's form, 405 for other methods, 413 over MaxUnsubscribeBody, 429
// over the per-IP rates (UnsubscribeRate for valid tokens, LinkRate for
// others), 503 when the store failed (contacts.Temporary: try again), 500
// for a permanent failure. HEAD answers what GET answers, without a body.
func (s *Server) unsubscribe(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", unsubscribePageCSP)
	ip, _, _ := net.SplitHostPort(r.RemoteAddr)
	tooMany := func() {
		h.Set("Retry-After", "1")
		linkPage(w, http.StatusTooManyRequests, "Too many requests", "Too many requests from your address; wait a moment and try again.")
	}
	switch {
	case r.Method != http.MethodGet && r.Method != http.MethodHead && r.Method != http.MethodPost:
		h.Set("Allow", "GET, HEAD, POST")
		linkPage(w, http.StatusMethodNotAllowed, "Method not allowed", "Open the link in a browser.")
		return
	case r.Method != http.MethodPost && r.ContentLength != 0:
		h.Set("Connection", "close")
		linkPage(w, http.StatusBadRequest, "Bad request", "This link takes no request body.")
		return
	case r.ContentLength > MaxUnsubscribeBody:
		h.Set("Connection", "close")
		linkPage(w, http.StatusRequestEntityTooLarge, "Bad request", "The request is too large.")
		return
	case s.Unsubscribe == nil:
		http.NotFound(w, r)
		return
	}
	tok, err := s.Unsubscribe.Parse(r.PathValue("token"))
	switch {
	case err != nil && !s.links.allow(ip):
		tooMany()
		return
	case err != nil:
		linkPage(w, http.StatusNotFound, "Link not found", "This unsubscribe link is not valid. Check that the whole link was copied.")
		return
	case !s.unsubLinks.allow(ip):
		tooMany()
		return
	}
	if r.Method != http.MethodPost {
		// HEAD answers as GET (RFC 9110 §9.3.2); net/http drops the body.
		s.unsubscribePage(w, r, tok, "")
		return
	}
	form, err := readForm(r)
	if err != nil {
		h.Set("Connection", "close")
		linkPage(w, http.StatusBadRequest, "Bad request", "The request could not be read.")
		return
	}
	switch {
	case form.Get("List-Unsubscribe") == "One-Click":
		_, err := s.Unsubscribe.OneClick(r.Context(), tok, contacts.SourceHeader)
		if s.unsubscribeFailed(w, err) {
			return
		}
		// RFC 8058 §3.1: no confirmation, no redirect; a tiny body.
		h.Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "Unsubscribed.")
	case form.Get("action") == "save":
		res, err := s.Unsubscribe.SetPreferences(r.Context(), tok, preferenceForm(form), contacts.SourceLink)
		if s.unsubscribeFailed(w, err) {
			return
		}
		s.unsubscribePage(w, r, tok, saveNote(res))
	default:
		linkPage(w, http.StatusBadRequest, "Bad request", "Nothing to do: the request is neither a one-click unsubscribe nor the preferences form.")
	}
}

// preferenceForm reads the page's form: unsubscribeAll (the box, present
// when checked) and shownUnsubscribeAll (0 or 1: as the page showed it),
// topic:NAME (OPT_IN or OPT_OUT: chosen) and shown:NAME (as shown). A
// field given twice or with another value counts as absent; a missing
// shown value makes that control unsubscribe-only (SetPreferences).
func preferenceForm(form url.Values) contacts.PreferenceForm {
	one := func(k string) (string, bool) {
		v, ok := form[k]
		if !ok || len(v) != 1 {
			return "", false
		}
		return v[0], true
	}
	status := func(k string) contacts.SubscriptionStatus {
		v, _ := one(k)
		if st := contacts.SubscriptionStatus(v); st == contacts.OptIn || st == contacts.OptOut {
			return st
		}
		return ""
	}
	f := contacts.PreferenceForm{UnsubscribeAll: form.Get("unsubscribeAll") != ""}
	switch v, _ := one("shownUnsubscribeAll"); v {
	case "0", "1":
		shown := v == "1"
		f.ShownUnsubscribeAll = &shown
	}
	for k := range form {
		name, ok := strings.CutPrefix(k, "topic:")
		if !ok {
			continue
		}
		if st := status(k); st != "" {
			f.Topics = append(f.Topics, contacts.TopicChoice{Topic: name, Status: st, Shown: status("shown:" + name)})
		}
	}
	return f
}

// saveNote is the page's note after a save with result r.
func saveNote(r contacts.SaveResult) string {
	note := "Your preferences were already as chosen; nothing changed."
	if r.Changed {
		note = "Your preferences have been saved."
	}
	if r.Stale {
		note += " They had changed since this page was shown (for example through the unsubscribe link of an email): only what you changed on the page was applied, and they are shown below as they are now."
	}
	if r.Ignored {
		note += " This page was out of date, so only unsubscribes were applied: to subscribe again, choose below and save."
	}
	return note
}

// readForm reads a POST's form, at most MaxUnsubscribeBody bytes:
// multipart/form-data or, whatever else the Content-Type says,
// application/x-www-form-urlencoded (RFC 8058 §3.1 allows both for the
// one-click POST; some senders label it otherwise).
func readForm(r *http.Request) (url.Values, error) {
	r.Body = http.MaxBytesReader(nil, r.Body, MaxUnsubscribeBody)
	ct := r.Header.Get("Content-Type")
	if strings.HasPrefix(strings.ToLower(ct), "multipart/form-data") {
		if err := r.ParseMultipartForm(MaxUnsubscribeBody); err != nil {
			return nil, err
		}
		return r.PostForm, nil
	}
	b, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, err
	}
	return url.ParseQuery(string(b))
}

// unsubscribeFailed writes the page for err (nil: nothing) and reports
// whether it did.
func (s *Server) unsubscribeFailed(w http.ResponseWriter, err error) bool {
	switch {
	case err == nil:
		return false
	case errors.Is(err, contacts.ErrGone):
		linkPage(w, http.StatusGone, "List no longer exists",
			"The mailing list (or topic) this link was for no longer exists, so there is nothing to unsubscribe from. Nothing was changed.")
	case !contacts.Temporary(err):
		// A token that verifies but names what the contacts refuse: a
		// Petrel fault no retry mends, never reported as temporary.
		s.Log.Error("unsubscribe cannot be applied", "err", err)
		linkPage(w, http.StatusInternalServerError, "Cannot unsubscribe",
			"This unsubscribe link cannot be applied. Nothing was changed; contact the sender.")
	default:
		s.Log.Error("applying an unsubscribe", "err", err)
		w.Header().Set("Retry-After", "1")
		linkPage(w, http.StatusServiceUnavailable, "Try again", "Your request could not be recorded; try again in a moment.")
	}
	return true
}

// unsubscribePage writes the preferences page of tok with note (a result
// line, "" for none).
func (s *Server) unsubscribePage(w http.ResponseWriter, r *http.Request, tok contacts.Token, note string) {
	l, p, err := s.Unsubscribe.State(r.Context(), tok)
	if s.unsubscribeFailed(w, err) {
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	io.WriteString(w, preferencesPage(tok.Email, l, p, note))
}

// preferencesPage is the preferences page of email on list l with its
// current preferences p: the list's name and description, one
// OPT_IN/OPT_OUT radio pair per topic (display name and description), an
// "unsubscribe from all" box, and note. Hidden fields carry what the page
// shows (shown:NAME per topic, shownUnsubscribeAll), so that a save
// applies only what the user changed (contacts.PreferenceForm). Every text is escaped: list and
// topic texts come from the tenant, the address from the token.
func preferencesPage(email string, l contacts.List, p contacts.Preferences, note string) string {
	e := html.EscapeString
	var b strings.Builder
	fmt.Fprintf(&b, "<!doctype html>\n<html><head><meta charset=\"utf-8\"><meta name=\"robots\" content=\"noindex\">"+
		"<title>Subscription preferences</title></head>\n<body style=\"font-family:sans-serif;max-width:40em;margin:3em auto\">\n"+
		"<h1>Subscription preferences</h1>\n<p>For <b>%s</b> on the list <b>%s</b>.</p>\n", e(email), e(l.Name))
	if l.Description != "" {
		fmt.Fprintf(&b, "<p>%s</p>\n", e(l.Description))
	}
	if note != "" {
		fmt.Fprintf(&b, "<p role=\"status\"><i>%s</i></p>\n", e(note))
	}
	shownAll := "0"
	if p.UnsubscribeAll {
		shownAll = "1"
	}
	fmt.Fprintf(&b, "<form method=\"post\">\n<input type=\"hidden\" name=\"action\" value=\"save\">\n"+
		"<input type=\"hidden\" name=\"shownUnsubscribeAll\" value=\"%s\">\n", shownAll)
	for _, tp := range p.Topics {
		display, desc := tp.Topic, ""
		if t, ok := l.Topic(tp.Topic); ok {
			display, desc = t.DisplayName, t.Description
		}
		in, out := " checked", ""
		if tp.Status == contacts.OptOut {
			in, out = "", " checked"
		}
		fmt.Fprintf(&b, "<fieldset><legend>%s</legend><input type=\"hidden\" name=\"shown:%s\" value=\"%s\">", e(display), e(tp.Topic), e(string(tp.Status)))
		if desc != "" {
			fmt.Fprintf(&b, "<p>%s</p>", e(desc))
		}
		fmt.Fprintf(&b, "<label><input type=\"radio\" name=\"topic:%s\" value=\"OPT_IN\"%s> Subscribed</label> "+
			"<label><input type=\"radio\" name=\"topic:%s\" value=\"OPT_OUT\"%s> Unsubscribed</label></fieldset>\n",
			e(tp.Topic), in, e(tp.Topic), out)
	}
	all := ""
	if p.UnsubscribeAll {
		all = " checked"
	}
	fmt.Fprintf(&b, "<p><label><input type=\"checkbox\" name=\"unsubscribeAll\" value=\"1\"%s> Unsubscribe from all email of this list</label></p>\n"+
		"<p><button type=\"submit\">Save preferences</button></p>\n</form>\n</body></html>\n", all)
	return b.String()
}
