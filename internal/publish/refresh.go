package publish

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/petrelmail/petrel/internal/configset"
	"github.com/petrelmail/petrel/internal/event"
	"github.com/petrelmail/petrel/internal/notify"
)

// Refresh returns job j as it should be attempted now, for the engine to
// call before each attempt (notify.Config.Refresh), so that a queued or
// retried job follows its endpoint's changes:
//
//   - Webhook jobs (Target "webhook:<account>/<set>/<destination>"): the
//     destination is looked up again (Destinations.EventDestinations, at
//     most configset.CacheTTL old). The job gets its current URL and
//     signing secrets (after a rotation: the new secret and, during the
//     overlap, the previous one). false — the job is dropped — when the set
//     or the destination no longer exists, the destination is disabled, or
//     it is no longer a webhook; when its MatchingEventTypes no longer
//     include the job's event type (Job.Kind, e.g. "Bounce" → BOUNCE);
//     and when it is not the destination the job was made for: a
//     destination deleted and re-created under the same set and name (or
//     its whole set re-created) has a new signing secret, not among the
//     job's (configset does not expose a destination id or creation time,
//     so the secrets identify it: Petrel generates them; see recreated for
//     how rotations are told apart). A job without secrets skips that
//     check.
//   - SNS jobs (Target "sns:<subscription ARN>", SNSHTTP and Email
//     channels): false when the subscription no longer exists
//     (Topics.SubscriptionPending: unsubscribed, or its topic deleted); a
//     SubscriptionConfirmation job (Kind sns.TypeSubscriptionConfirmation)
//     is also false once its subscription is no longer pending (confirmed
//     meanwhile, e.g. by ConfirmSubscription). The job is otherwise
//     unchanged (a subscription's endpoint never changes). The SNS jobs of
//     an SNS event destination are not checked against the destination's
//     MatchingEventTypes: their Target names only the subscription, not the
//     configuration set and destination that published to its topic.
//   - Everything else (feedback emails, Target "email:<address>"), and
//     jobs whose service is not configured (nil Destinations or Topics):
//     unchanged, true.
//
// An error (a lookup that failed) means: try again later.
func (r *Router) Refresh(ctx context.Context, j notify.Job) (notify.Job, bool, error) {
	switch {
	case j.Channel == notify.Webhook && strings.HasPrefix(j.Target, "webhook:"):
		return r.refreshWebhook(ctx, j)
	case strings.HasPrefix(j.Target, "sns:") && (j.Channel == notify.SNSHTTP || j.Channel == notify.Email):
		if r.topics == nil {
			return j, true, nil
		}
		arn := strings.TrimPrefix(j.Target, "sns:")
		exists, pending, err := r.topics.SubscriptionPending(ctx, j.Account, arn)
		if err != nil {
			return j, false, fmt.Errorf("subscription %s: %w", arn, err)
		}
		if j.Kind == subscriptionConfirmation && !pending {
			return j, false, nil
		}
		return j, exists, nil
	}
	return j, true, nil
}

// subscriptionConfirmation is the Kind of an SNS confirmation request job
// (sns.TypeSubscriptionConfirmation).
const subscriptionConfirmation = "SubscriptionConfirmation"

func (r *Router) refreshWebhook(ctx context.Context, j notify.Job) (notify.Job, bool, error) {
	if r.dests == nil {
		return j, true, nil
	}
	set, name, ok := webhookTarget(j.Target, j.Account)
	if !ok {
		// Not a target Route writes: leave the job as it is.
		return j, true, nil
	}
	ds, err := r.dests.EventDestinations(ctx, j.Account, set)
	if errors.Is(err, configset.ErrNotFound) {
		return j, false, nil
	}
	if err != nil {
		return j, false, fmt.Errorf("event destinations of %s: %w", set, err)
	}
	i := slices.IndexFunc(ds, func(d configset.EventDestination) bool { return d.Name == name })
	if i < 0 || !ds[i].Enabled || ds[i].WebhookURL == "" {
		return j, false, nil
	}
	if t := EventType(event.Kind(j.Kind)); t != "" && !slices.Contains(ds[i].MatchingEventTypes, t) {
		return j, false, nil
	}
	if recreated(j.Secrets, ds[i].WebhookSecrets) {
		return j, false, nil
	}
	j.URL = ds[i].WebhookURL
	if len(ds[i].WebhookSecrets) > 0 {
		j.Secrets = slices.Clone(ds[i].WebhookSecrets)
	}
	return j, true, nil
}

// recreated reports whether a webhook destination whose secrets are now
// current is not the one that had secrets made when its job was routed:
// it was deleted and re-created under the same set and name (or made a
// webhook again), so it has a newly generated secret. A rotation keeps the
// previous secret for configset.WebhookSecretOverlap (24 h, at least a
// job's whole retry period), so while a rotated destination shows two
// secrets it is never taken as re-created, even when rotated twice since
// the job was routed; only a destination with a single secret, none of
// the job's, is. Limit: a dead letter replayed after the overlap of a
// rotation made since it was routed has expired is taken as re-created
// too (dropped). No secrets on either side (unreadable): not re-created.
func recreated(made, current []string) bool {
	if len(made) == 0 || len(current) != 1 {
		return false
	}
	return !slices.Contains(made, current[0])
}

// webhookTarget splits a webhook job's Target,
// "webhook:<account>/<set>/<destination>", for account. Set and
// destination names have no "/" (SES: letters, digits, _ and -).
func webhookTarget(target, account string) (set, name string, ok bool) {
	rest, ok := strings.CutPrefix(target, "webhook:"+account+"/")
	if !ok {
		return "", "", false
	}
	set, name, ok = strings.Cut(rest, "/")
	if !ok || set == "" || name == "" || strings.Contains(name, "/") {
		return "", "", false
	}
	return set, name, true
}
