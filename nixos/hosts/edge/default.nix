# Edge/web host: nginx (TLS, HTTP/3), API instances, SOAP, PostgreSQL, Redis,
# send-only mail; exports the image storage to the GPU hosts over NFS.
# Secrets live in /var/lib/secrets/housify (root, 0400), see docs/deployment.md.
{ ... }:

let
  secrets = "/var/lib/secrets/housify";
in
{
  imports = [
    ../common.nix
    ./hardware-configuration.nix
  ];

  networking.hostName = "housify-edge";
  networking.interfaces.lan0.ipv4.addresses = [
    {
      address = "10.0.1.10";
      prefixLength = 24;
    }
  ];

  services.housify = {
    enable = true;
    domain = "housify.example.com";
    tls.acmeEmail = "ops@housify.example.com";
    lan.address = "10.0.1.10";
    redis.passwordFile = "${secrets}/redis-password";
    postgresql.aiPasswordFile = "${secrets}/postgres-housify-ai-password";
    storage.nfsExport = true;
    # Internal APIs of the GPU hosts (add one line per GPU host).
    aiServers = [ "10.0.1.20:8200" ];
  };

  users.users.housify.uid = 7400; # owner of the NFS-exported storage

  services.housify-api = {
    instances = 4;
    jwt = {
      privateKeyFile = "${secrets}/jwt-private.pem";
      publicKeyFile = "${secrets}/jwt-public.pem";
    };
    redis = {
      url = null;
      urlFile = "${secrets}/redis-url-local";
    };
    superuser = {
      email = "admin@housify.example.com";
      passwordFile = "${secrets}/superuser-password";
    };
  };
}
