package api

// v1NotificationActions are the SES v1 API's identity policy and
// notification actions (v1.go).
func (s *Server) v1NotificationActions() map[string]v1Action {
	return map[string]v1Action{}
}
