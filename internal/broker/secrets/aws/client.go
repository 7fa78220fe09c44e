package aws

import (
	"crypto/sha256"
	"encoding/binary"
	"strconv"

	cloudaws "github.com/runcred/runcred/internal/cloud/aws"
)

// cachedClient is the STS client built from one version of config/root.
type cachedClient struct {
	key [sha256.Size]byte
	sts *cloudaws.STS
}

// stsClient returns a client for c, reusing the last one built if c is the
// same configuration. The configuration is read from storage on every
// request, because another server node may have changed it; the cache key
// covers every field the client is built from, so a change anywhere builds
// a new client.
func (b *Backend) stsClient(c *rootConfig) *cloudaws.STS {
	cfg := cloudaws.Config{
		AccessKey:   c.AccessKey,
		SecretKey:   c.SecretKey,
		Region:      stsRegion(c),
		STSEndpoint: c.STSEndpoint,
		MaxRetries:  c.MaxRetries,
		HTTPClient:  b.opts.HTTPClient,
	}
	key := fingerprint(cfg)
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.client != nil && b.client.key == key {
		return b.client.sts
	}
	b.client = &cachedClient{key: key, sts: cloudaws.NewSTS(cfg)}
	return b.client.sts
}

// stsRegion is sts_region, else region, else the SDK package's default.
func stsRegion(c *rootConfig) string {
	if c.STSRegion != "" {
		return c.STSRegion
	}
	return c.Region
}

// fingerprint hashes the configuration with each field length-prefixed, so
// no two configurations share a key by shifting bytes between fields.
func fingerprint(c cloudaws.Config) [sha256.Size]byte {
	h := sha256.New()
	for _, field := range [][]byte{
		[]byte(c.AccessKey), c.SecretKey.Reveal(), []byte(c.Region), []byte(c.STSEndpoint),
		[]byte(strconv.Itoa(c.MaxRetries)),
	} {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(field)))
		h.Write(n[:])
		h.Write(field)
	}
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	return sum
}
