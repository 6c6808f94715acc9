# Edge/web host: nginx (TLS, HTTP/3, the web app), API instances, SOAP,
# PostgreSQL, Redis, send-only mail, and the Garage node that manages the
# cluster layout and creates the image bucket.
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
  # REQUIRED: the MAC of this machine's LAN NIC (`ip link`); it becomes lan0. The value
  # below is a PLACEHOLDER: it evaluates (nix flake check) and a warning names it, but no
  # NIC has it, so the LAN rules stay closed until you replace it.
  services.housify.firewall.lanMacAddress = "02:00:00:00:00:00";
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
    redis.passwordFile = "${secrets}/redis-password"; # the operators' (`default` user)
    # One Redis user per service (`housify-api redis-acl` prints their rules); each service's
    # redis-url names its user: unix://housify-api:<password>@/run/redis-housify/redis.sock,
    # rediss://housify-ai:<password>@10.0.1.10:6379/0?ssl_ca_certs=/etc/housify/postgres-ca.pem.
    redis.userPasswordFiles = {
      housify-api = "${secrets}/redis-password-api";
      housify-ai = "${secrets}/redis-password-ai";
    };
    postgresql.aiPasswordFile = "${secrets}/postgres-housify-ai-password";
    # TLS for the AI hosts (sslmode=verify-full): a certificate for 10.0.1.10 signed by the
    # CA whose certificate the GPU hosts hold as /etc/housify/postgres-ca.pem (docs/deployment.md).
    postgresql.tls = {
      certificate = "/etc/housify/postgres.crt";
      certificateKey = "${secrets}/postgres.key";
    };
    # Redis on the LAN speaks TLS only; the same kind of certificate (for 10.0.1.10).
    redis.tls = {
      certificate = "/etc/housify/postgres.crt";
      certificateKey = "${secrets}/postgres.key";
    };
    garage = {
      rpcPublicAddress = "10.0.1.10:3901";
      manageLayout = true;
      expectedNodes = 2; # edge + gpu-1; raise with each GPU host
      accessKeyIdFile = "${secrets}/s3-access-key-id";
      secretAccessKeyFile = "${secrets}/s3-secret-access-key";
      # After the first start: `garage node id` on each GPU host, e.g.
      # bootstrapPeers = [ "<id>@10.0.1.20:3901" ];
    };
    # Internal APIs of the GPU hosts (add one line per GPU host).
    aiServers = [ "10.0.1.20:8200" ];
  };

  users.users.housify.uid = 7400;

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
    # The local Garage node (S3 on 127.0.0.1:3900); nginx proxies picture
    # downloads to it (X-Accel-Redirect /_media_s3/).
    storage = {
      backend = "s3";
      s3 = {
        accessKeyIdFile = "${secrets}/s3-access-key-id";
        secretAccessKeyFile = "${secrets}/s3-secret-access-key";
      };
    };
  };
}
