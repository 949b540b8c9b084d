package api

// v1TemplateActions are the SES v1 API's templates actions (v1.go).
func (s *Server) v1TemplateActions() map[string]v1Action {
	return map[string]v1Action{}
}
