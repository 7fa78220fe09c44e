package jwt

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strconv"
	"strings"

	"github.com/runcred/runcred/internal/broker/engine"
	"github.com/runcred/runcred/internal/fail"
)

// Phases tells the method about runcred's own run phases (the platform's
// run service, which the daemon wires).
type Phases interface {
	// PhaseRunning reports whether phase of run runID is in progress;
	// known is false for a run the platform has no record of.
	PhaseRunning(ctx context.Context, runID, phase string) (known, running bool, err error)
}

// checkPhase refuses a token runcred issued for a run phase that is no
// longer running: a token copied out of a run is useless once the run
// moves on, whatever its exp says. It fails closed: a platform that cannot
// answer refuses the login. A token naming a run the platform does not
// know (from the operators' mint API) lives by its exp alone. Without
// Phases (a broker without runcred's platform: its own tests) there is
// nothing to ask; the daemon always wires it.
func (b *Backend) checkPhase(ctx context.Context, all map[string]any) error {
	runID, _ := all["terraform_run_id"].(string)
	phase, _ := all["terraform_run_phase"].(string)
	if runID == "" {
		return nil
	}
	if b.phases == nil {
		return nil
	}
	known, running, err := b.phases.PhaseRunning(ctx, runID, phase)
	switch {
	case err != nil:
		return fail.Wrap(fail.Unavailable, err, "error validating token: runcred could not tell whether the token's run phase is still running")
	case known && !running:
		return fail.Invalidf("error validating token: the %s phase of run %s has ended", fail.Clip(phase), fail.Clip(runID))
	}
	return nil
}

// jtiKeyPrefix holds the jti of every JWT that logged in through a role
// with jwt_single_use, under jti/<exp>/<hash of iss and jti>, until the
// JWT expires.
const jtiKeyPrefix = "jti/"

// useOnce records the token's jti, refusing a jti already recorded: the
// second login of one JWT through a jwt_single_use role. Entries of
// expired JWTs are swept on the way.
func (b *Backend) useOnce(ctx context.Context, st engine.Storage, cl *claims) error {
	jti, _ := cl.all["jti"].(string)
	if jti == "" {
		return fail.Invalidf("error validating token: the role is jwt_single_use and the token has no jti claim")
	}
	sum := sha256.Sum256([]byte(cl.iss + "\x00" + jti))
	key := jtiKeyPrefix + strconv.FormatInt(*cl.exp, 10) + "/" + hex.EncodeToString(sum[:])
	err := st.Atomic(ctx, key, func(st engine.Storage) error {
		seen, err := st.Get(ctx, key)
		if err != nil {
			return err
		}
		if seen != nil {
			return fail.Invalidf("error validating token: this token (jti %q) has already been used to log in, and the role is jwt_single_use", fail.Clip(jti))
		}
		raw, _ := json.Marshal(map[string]int64{"exp": *cl.exp})
		return st.Put(ctx, key, raw)
	})
	if err != nil {
		return err
	}
	b.sweepJTIs(ctx, st)
	return nil
}

// sweepJTIs deletes the records of JWTs that have expired (beyond any
// clock-skew leeway a role may allow, an hour), which can never log in
// again. A failure leaves them for the next sweep.
func (b *Backend) sweepJTIs(ctx context.Context, st engine.Storage) {
	buckets, err := st.List(ctx, jtiKeyPrefix)
	if err != nil {
		return
	}
	cutoff := b.now().Unix() - 3600
	for _, bk := range buckets {
		name, folder := strings.CutSuffix(bk, "/")
		exp, err := strconv.ParseInt(name, 10, 64)
		if !folder || err != nil || exp >= cutoff {
			continue
		}
		keys, err := st.List(ctx, jtiKeyPrefix+bk)
		if err != nil {
			continue
		}
		for _, k := range keys {
			_ = st.Delete(ctx, jtiKeyPrefix+bk+k)
		}
	}
}
