"""Projects rendered from cookiecutters: `contrail startdev` and `contrail github init`."""
