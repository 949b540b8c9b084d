package identity

// NotificationAttributes are an identity's feedback notification settings
// (SES: IdentityNotificationAttributes, ../shared/spec/ses.md §4.1): the
// SNS topics its Bounce, Complaint and Delivery notifications go to ("" =
// none), whether each includes the original headers, and whether bounces
// and complaints are also emailed to the sender (on by default, as SES).
type NotificationAttributes struct {
	BounceTopic, ComplaintTopic, DeliveryTopic             string
	HeadersInBounce, HeadersInComplaint, HeadersInDelivery bool
	ForwardingEnabled                                      bool
}
