package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"text/tabwriter"
	"time"

	"github.com/petrelmail/petrel/internal/daemon"
	"github.com/petrelmail/petrel/internal/template"
)

const templateUsage = "usage: petrel template list|get NAME|put NAME|render NAME [--account A] (petrel template --help)"

// templateJSON is a template as `petrel template get` prints it and
// `petrel template put --json` reads it: SES's GetEmailTemplate output
// (TemplateName and Tags are optional on input).
type templateJSON struct {
	TemplateName    string `json:",omitempty"`
	TemplateContent struct {
		Subject string `json:",omitempty"`
		Text    string `json:",omitempty"`
		Html    string `json:",omitempty"`
	}
	Tags []struct{ Key, Value string } `json:",omitempty"`
}

// templateCmd: petrel template list | get NAME | put NAME | render NAME,
// on one account's email templates (docs/templates.md), the templates the
// API's …/v2/email/templates operations manage.
func templateCmd(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return errors.New(templateUsage)
	}
	var acct, subject, textFile, htmlFile, jsonFile, data, dataFile string
	var asJSON bool
	svc, pos, err := adminOpen(ctx, "template "+args[0], args[1:], func(fs *flag.FlagSet) {
		fs.StringVar(&acct, "account", daemon.DefaultAccount, "the account whose templates they are")
		fs.BoolVar(&asJSON, "json", false, "list: print one JSON object per template")
		fs.StringVar(&subject, "subject", "", "put: the Subject part")
		fs.StringVar(&textFile, "text", "", "put: a file holding the Text part (- for standard input)")
		fs.StringVar(&htmlFile, "html", "", "put: a file holding the Html part (- for standard input)")
		fs.StringVar(&jsonFile, "json-file", "", "put: a file holding the template as `petrel template get` prints it, or its TemplateContent")
		fs.StringVar(&data, "data", "", "render: the TemplateData, a JSON object")
		fs.StringVar(&dataFile, "data-file", "", "render: a file holding the TemplateData")
	})
	if err != nil {
		return err
	}
	defer svc.Close()
	if _, err := svc.Accounts.Get(ctx, acct); err != nil {
		return fmt.Errorf("account %s: %w", acct, err)
	}
	ts := svc.Templates
	oneName := func() (string, error) {
		if len(pos) != 1 {
			return "", fmt.Errorf("usage: petrel template %s NAME [--account A]", args[0])
		}
		return pos[0], template.ValidateName(pos[0])
	}
	switch args[0] {
	case "list":
		if len(pos) != 0 {
			return errors.New("usage: petrel template list [--account A] [--json]")
		}
		return templateList(ctx, ts, acct, asJSON, stdout)
	case "get":
		name, err := oneName()
		if err != nil {
			return err
		}
		t, err := ts.Load(ctx, acct, name)
		if err != nil {
			return templateErr(name, err)
		}
		var out templateJSON
		out.TemplateName = t.Name
		out.TemplateContent.Subject, out.TemplateContent.Text, out.TemplateContent.Html = t.Content.Subject, t.Content.Text, t.Content.HTML
		for _, tag := range t.Tags {
			out.Tags = append(out.Tags, struct{ Key, Value string }{tag[0], tag[1]})
		}
		enc := json.NewEncoder(stdout)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	case "put":
		name, err := oneName()
		if err != nil {
			return err
		}
		c, tags, err := templateInput(subject, textFile, htmlFile, jsonFile)
		if err != nil {
			return err
		}
		err = ts.Update(ctx, acct, name, c)
		if errors.Is(err, template.ErrNotFound) {
			if err := ts.Create(ctx, acct, template.Template{Name: name, Content: c, Tags: tags}); err != nil {
				return templateErr(name, err)
			}
			fmt.Fprintf(stdout, "created template %s\n", name)
			return nil
		}
		if err != nil {
			return templateErr(name, err)
		}
		fmt.Fprintf(stdout, "updated template %s\n", name)
		return nil
	case "render":
		name, err := oneName()
		if err != nil {
			return err
		}
		if dataFile != "" {
			b, err := readInput(dataFile)
			if err != nil {
				return err
			}
			if err := notEmpty(b, "render", "data-file", dataFile, "TemplateData must be a JSON object"); err != nil {
				return err
			}
			data = string(b)
		}
		if data == "" {
			return errors.New("render: --data JSON or --data-file FILE is required")
		}
		t, err := ts.Load(ctx, acct, name)
		if err != nil {
			return templateErr(name, err)
		}
		mime, err := template.RenderMIME(name, t.Content, data, time.Now())
		if err != nil {
			return err
		}
		_, err = io.WriteString(stdout, mime)
		return err
	}
	return errors.New(templateUsage)
}

func templateErr(name string, err error) error {
	if errors.Is(err, template.ErrNotFound) {
		return fmt.Errorf("template %s does not exist", name)
	}
	return err
}

func templateList(ctx context.Context, ts *template.Service, acct string, asJSON bool, stdout io.Writer) error {
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	if !asJSON {
		fmt.Fprintln(tw, "NAME\tCREATED")
	}
	after := ""
	for {
		page, err := ts.List(ctx, acct, after, 1000)
		if err != nil {
			return err
		}
		for _, m := range page {
			if asJSON {
				b, _ := json.Marshal(struct {
					TemplateName     string
					CreatedTimestamp string
				}{m.Name, m.Created.UTC().Format(time.RFC3339)})
				fmt.Fprintf(stdout, "%s\n", b)
				continue
			}
			fmt.Fprintf(tw, "%s\t%s\n", m.Name, m.Created.UTC().Format(time.RFC3339))
		}
		if len(page) < 1000 {
			break
		}
		after = page[len(page)-1].Name
	}
	return tw.Flush()
}

// templateInput is the content and tags `petrel template put` stores: from
// --json-file, or from --subject, --text and --html (not both ways).
func templateInput(subject, textFile, htmlFile, jsonFile string) (template.Content, [][2]string, error) {
	var c template.Content
	if jsonFile != "" {
		if subject != "" || textFile != "" || htmlFile != "" {
			return c, nil, errors.New("put: --json-file, or --subject, --text and --html, not both")
		}
		b, err := readInput(jsonFile)
		if err != nil {
			return c, nil, err
		}
		if err := notEmpty(b, "put", "json-file", jsonFile, "it must hold a template as `petrel template get` prints it, or its TemplateContent"); err != nil {
			return c, nil, err
		}
		var in templateJSON
		if err := json.Unmarshal(b, &in); err != nil {
			return c, nil, fmt.Errorf("%s: %w", jsonFile, err)
		}
		if in.TemplateContent.Subject == "" && in.TemplateContent.Text == "" && in.TemplateContent.Html == "" {
			// A bare EmailTemplateContent.
			if err := json.Unmarshal(b, &in.TemplateContent); err != nil {
				return c, nil, fmt.Errorf("%s: %w", jsonFile, err)
			}
		}
		var tags [][2]string
		for _, t := range in.Tags {
			tags = append(tags, [2]string{t.Key, t.Value})
		}
		return template.Content{Subject: in.TemplateContent.Subject, Text: in.TemplateContent.Text, HTML: in.TemplateContent.Html}, tags, nil
	}
	if subject == "" && textFile == "" && htmlFile == "" {
		return c, nil, errors.New("put: give --subject, --text FILE and/or --html FILE, or --json-file FILE")
	}
	c.Subject = subject
	for _, f := range []struct {
		file string
		dst  *string
	}{{textFile, &c.Text}, {htmlFile, &c.HTML}} {
		if f.file == "" {
			continue
		}
		b, err := readInput(f.file)
		if err != nil {
			return c, nil, err
		}
		*f.dst = string(b)
	}
	return c, nil, nil
}

// readInput reads file, or standard input for "-", at most
// template.MaxSize+1 bytes beyond which the template is too large anyway.
func readInput(file string) ([]byte, error) {
	r := io.Reader(os.Stdin)
	if file != "-" {
		f, err := os.Open(file)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	return io.ReadAll(io.LimitReader(r, 4*template.MaxSize))
}

// notEmpty refuses the content b of the file given to flag --name of
// subcommand op when it holds nothing but white space (an empty file,
// /dev/null): its own error, saying what the file must hold, rather than
// "--name is required" or a parser's "unexpected end of input".
func notEmpty(b []byte, op, name, file, what string) error {
	if len(bytes.TrimSpace(b)) == 0 {
		return fmt.Errorf("%s: --%s %s is empty: %s", op, name, file, what)
	}
	return nil
}
