package broker

import "context"

// Sweep runs one round of the expiry task (tests drive time themselves).
func (b *Broker) Sweep(ctx context.Context) { b.sweep(ctx) }
