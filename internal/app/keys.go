package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/rolegate/rolegate/auth"
)

// keys manages the token signing keys kept in the database:
//
//	rolegate keys rotate   a new current key; the previous one still verifies
//	                       the tokens it signed until they have expired
//	rolegate keys list     the keys, current last
func keys(ctx context.Context, cfg Config, sub string, out io.Writer) error {
	store, err := cfg.openStore(ctx, 0)
	if err != nil {
		return fmt.Errorf("open database: %w", err)
	}
	defer store.Close()
	kek := cfg.Tokens.KeyEncryptionKey
	keep := auth.RetiredKeyLifetime(cfg.Tokens.TTL, 0)
	switch sub {
	case "rotate":
		if kek == nil {
			fmt.Fprintln(cfg.stderr, "rolegate: WARNING: no key encryption key: the new signing key is stored in plain in the database")
		}
		info, dropped, err := auth.RotateSigningKeys(ctx, store, kek, time.Now(), keep)
		if err != nil {
			return fmt.Errorf("rotate: %w", keyError(err))
		}
		fmt.Fprintf(out, "new current signing key %s (%s)\n", info.Kid, storage(info))
		for _, kid := range dropped {
			fmt.Fprintf(out, "dropped signing key %s (retired more than %v ago)\n", kid, keep)
		}
		fmt.Fprintf(out, "running instances sign with it within %v; the previous key verifies its tokens for %v more\n",
			auth.KeyReloadInterval, keep)
		return nil
	case "list":
		list, err := auth.ListSigningKeys(ctx, store)
		if err != nil {
			return err
		}
		if len(list) == 0 {
			fmt.Fprintln(out, "no signing key yet: the first start of rolegate serve makes one")
			return nil
		}
		now := time.Now()
		for _, k := range list {
			state := "current"
			if !k.Current {
				until := k.RetiredAt.Add(keep)
				state = "retired " + k.RetiredAt.UTC().Format(time.RFC3339) + ", verifies until " + until.UTC().Format(time.RFC3339)
				if now.After(until) {
					state = "retired " + k.RetiredAt.UTC().Format(time.RFC3339) + ", expired (dropped at the next rotation)"
				}
			}
			created := "before key sets"
			if !k.CreatedAt.IsZero() {
				created = k.CreatedAt.UTC().Format(time.RFC3339)
			}
			fmt.Fprintf(out, "%s  created %s  %s  %s\n", k.Kid, created, storage(k), state)
		}
		return nil
	}
	return ErrUsage
}

func storage(k auth.KeyInfo) string {
	if k.SealedBy == "" {
		return "stored in plain"
	}
	return "encrypted with key encryption key " + k.SealedBy
}

// keyError says which setting a key error is about.
func keyError(err error) error {
	switch {
	case errors.Is(err, auth.ErrKeysSealed):
		return fmt.Errorf("%w: set ROLEGATE_KEY_ENCRYPTION_KEY (or ROLEGATE_KEY_ENCRYPTION_KEY_FILE, -key-encryption-key) to the key they were encrypted with", err)
	case errors.Is(err, auth.ErrWrongSealingKey), errors.Is(err, auth.ErrSealedKeyCorrupt):
		return fmt.Errorf("%w: ROLEGATE_KEY_ENCRYPTION_KEY is not the key they were encrypted with "+
			"(to change it, give the one they were encrypted with as ROLEGATE_KEY_ENCRYPTION_KEY_PREVIOUS)", err)
	}
	return err
}
