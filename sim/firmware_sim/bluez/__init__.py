"""Virtual BlueZ on a private D-Bus (docs/footpod-profile.md, "Virtual BlueZ")."""
