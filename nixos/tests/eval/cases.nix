# Configurations for the lib-only module evaluation (check.nix, tests/nix).
# good: must evaluate. bad: must fail, with `error` in the message.
{ lib }:

let
  inherit (lib) mkDefault;
  base = {
    services.housify = {
      enable = true;
      domain = "housify.example.com";
      tls.acmeEmail = mkDefault "ops@example.com";
      firewall = {
        lanInterface = "lan0";
        lanMacAddress = mkDefault "52:54:00:00:00:10";
        internalSubnets = mkDefault [ "10.0.1.0/24" ];
        managementSubnets = mkDefault [ "10.0.99.0/24" ];
      };
    };
    services.openssh.enable = true;
    services.housify-ai.enable = mkDefault true;
    services.housify-api.jwt = {
      privateKeyFile = mkDefault "/run/secrets/housify/jwt-private.pem";
      publicKeyFile = mkDefault "/run/secrets/housify/jwt-public.pem";
    };
  };
  with' = change: { imports = [ base change ]; };
  s3Storage = {
    backend = "s3";
    s3 = {
      accessKeyIdFile = "/run/secrets/housify/s3-access-key-id";
      secretAccessKeyFile = "/run/secrets/housify/s3-secret-access-key";
    };
  };
  s3case = with' {
    services.housify.garage = {
      enable = true;
      rpcPublicAddress = "10.0.1.10:3901";
      replicationFactor = mkDefault 1;
      manageLayout = true;
      rpcSecretFile = "/run/secrets/housify/garage-rpc-secret";
      adminTokenFile = "/run/secrets/housify/garage-admin-token";
      accessKeyIdFile = "/run/secrets/housify/s3-access-key-id";
      secretAccessKeyFile = "/run/secrets/housify/s3-secret-access-key";
    };
    services.housify-api.storage = s3Storage;
    services.housify-ai.storage = s3Storage;
  };

  redisUsers = {
    housify-api = "/run/secrets/housify/redis-api";
    housify-ai = "/run/secrets/housify/redis-ai";
  };
  redisTls = {
    certificate = "/etc/housify/redis.crt";
    certificateKey = "/run/secrets/housify/redis.key";
  };
  pgTls = {
    certificate = "/etc/housify/postgres.crt";
    certificateKey = "/run/secrets/housify/postgres.key";
  };

in
{
  inherit base;

  good = {
    edge-with-local-ai = base;
    # Payments through a BTCPay Server store (docs/billing.md); off in every other case.
    btcpay = with' {
      services.housify-api.btcpay = {
        enable = true;
        url = "https://pay.example.com";
        storeId = "9CiNzKoANXxmk5ayZngSXrHTiVvvgCrwrpFQd4m2K776";
        apiKeyFile = "/run/secrets/housify/btcpay-api-key";
        webhookSecretFile = "/run/secrets/housify/btcpay-webhook-secret";
      };
    };
    s3 = s3case;
    # Signed picture URLs checked by nginx itself (docs/storage.md, "Signed URLs").
    media-secret = with' {
      services.housify-api.mediaUrlSecretFile = "/run/secrets/housify/media-url-secret";
      services.housify-api.aiApiTokenFile = "/run/secrets/housify/ai-api-token";
      services.housify-ai.apiTokenFile = "/run/secrets/housify/ai-api-token";
    };
    # An AI-only host whose storage is the edge's NFS export.
    gpu-nfs = {
      services.housify-ai = {
        enable = true;
        redis.url = "rediss://10.0.1.10:6379/0?ssl_ca_certs=/etc/housify/redis-ca.pem";
        database.url = "postgresql://housify_ai@10.0.1.10:5432/housify_ai?sslmode=verify-full&sslrootcert=/etc/housify/postgres-ca.pem";
      };
      services.housify.firewall = {
        lanInterface = "enp2s0";
        internalSubnets = [ "10.0.1.0/24" ];
      };
      fileSystems."/var/lib/housify/storage" = {
        device = "10.0.1.10:/var/lib/housify/storage";
        fsType = "nfs";
      };
    };
    # The web app as the overlay builds it (nixos/packages/web.nix on stand-in npm builders):
    # the module's default. null serves no web app.
    web = base;
    no-web = with' { services.housify.web.package = null; };
    wan-interface = with' { services.housify.firewall.wanInterface = "wan0"; };
    # Another module's openFirewall (e.g. a Prometheus exporter) and per-interface openings.
    other-modules-open-ports = with' {
      services.housify.firewall.wanInterface = "wan0";
      networking.firewall = {
        allowedTCPPorts = [ 9100 ];
        allowedUDPPortRanges = [
          {
            from = 60000;
            to = 60010;
          }
        ];
        interfaces.wg0.allowedUDPPorts = [ 51820 ];
        interfaces.wan0.allowedTCPPorts = [ 8080 ];
      };
    };
    three-instances = with' { services.housify-api.instances = 3; };
    gpu = with' {
      services.housify-ai = {
        gpu.enable = true;
        device = "cuda";
        workers = 2;
      };
    };
    lan-exposed = with' {
      services.housify = {
        lan.address = "10.0.1.10";
        postgresql.tls = pgTls;
        redis.tls = redisTls;
        redis.passwordFile = "/run/secrets/housify/redis-password";
        redis.userPasswordFiles = redisUsers;
        storage.nfsExport = true;
      };
      services.housify-api.redis = {
        url = null;
        urlFile = "/run/secrets/housify/redis-url";
      };
      services.housify-ai.redis = {
        url = null;
        urlFile = "/run/secrets/housify/redis-url";
      };
      services.housify-soap = {
        listenAddress = "10.0.1.10";
        allowedSources = [
          "10.0.1.11/32"
          "fd00:1::11/128"
        ];
      };
    };
  };

  bad = {
    instances-wrong-type = {
      configuration = with' { services.housify-api.instances = "four"; };
      error = "is not of type";
    };
    instances-zero = {
      configuration = with' { services.housify-api.instances = 0; };
      error = "is not of type";
    };
    device-not-in-enum = {
      configuration = with' { services.housify-ai.device = "gpu"; };
      error = "is not of type";
    };
    upload-size-malformed = {
      configuration = with' { services.housify.maxUploadSize = "lots"; };
      error = "is not of type";
    };
    secret-in-nix-store = {
      configuration = with' {
        services.housify-api.jwt.privateKeyFile = "/nix/store/00000000000000000000000000000000-jwt.pem";
      };
      error = "is not of type";
    };
    unknown-option = {
      configuration = with' { services.housify-api.instanses = 3; };
      error = "does not exist";
    };
    jwt-keys-missing = {
      configuration = with' {
        services.housify-api.jwt = {
          privateKeyFile = null;
          publicKeyFile = null;
        };
      };
      error = "jwt.privateKeyFile and publicKeyFile must be set";
    };
    cuda-without-gpu = {
      configuration = with' { services.housify-ai.device = "cuda"; };
      error = "needs services.housify-ai.gpu.enable";
    };
    ssh-open-to-the-world = {
      configuration = with' { services.openssh.openFirewall = true; };
      error = "openFirewall must be false";
    };
    no-management-subnet = {
      configuration = with' { services.housify.firewall.managementSubnets = [ ]; };
      error = "managementSubnets is empty";
    };
    internal-subnet-is-internet = {
      configuration = with' { services.housify.firewall.internalSubnets = [ "0.0.0.0/0" ]; };
      error = "must not contain 0.0.0.0/0";
    };
    postgresql-on-lan-without-tls = {
      configuration = with' {
        services.housify = {
          lan.address = "10.0.1.10";
          redis.passwordFile = "/run/secrets/housify/redis-password";
        };
      };
      error = "services.housify.postgresql.tls: set certificate and certificateKey";
    };
    redis-on-lan-without-tls = {
      configuration = with' {
        services.housify = {
          lan.address = "10.0.1.10";
          postgresql.tls = pgTls;
          redis.passwordFile = "/run/secrets/housify/redis-password";
        };
      };
      error = "services.housify.redis.tls: set certificate and certificateKey";
    };
    remote-redis-in-the-clear = {
      configuration = {
        services.housify-ai = {
          enable = true;
          redis.url = "redis://10.0.1.10:6379/0";
        };
        services.housify.firewall = {
          lanInterface = "enp2s0";
          internalSubnets = [ "10.0.1.0/24" ];
        };
      };
      error = "use rediss://";
    };
    remote-database-without-verify-full = {
      configuration = {
        services.housify-ai = {
          enable = true;
          redis.url = "rediss://10.0.1.10:6379/0?ssl_ca_certs=/etc/housify/redis-ca.pem";
          database.url = "postgresql://housify_ai@10.0.1.10:5432/housify_ai";
        };
        services.housify.firewall = {
          lanInterface = "enp2s0";
          internalSubnets = [ "10.0.1.0/24" ];
        };
      };
      error = "add ?sslmode=verify-full&sslrootcert=";
    };
    redis-on-lan-without-acl-users = {
      configuration = with' {
        services.housify = {
          lan.address = "10.0.1.10";
          postgresql.tls = pgTls;
          redis.tls = redisTls;
          redis.passwordFile = "/run/secrets/housify/redis-password";
        };
        services.housify-api.redis = {
          url = null;
          urlFile = "/run/secrets/housify/redis-url";
        };
      };
      error = "services.housify.redis.userPasswordFiles is required";
    };
    redis-on-lan-without-password = {
      configuration = with' { services.housify.lan.address = "10.0.1.10"; };
      error = "redis.passwordFile is required";
    };
    redis-password-but-plain-url = {
      configuration = with' {
        services.housify.redis.passwordFile = "/run/secrets/housify/redis-password";
      };
      error = "set services.housify-api.redis.urlFile";
    };
    no-acme-no-certificate = {
      configuration = with' { services.housify.tls.acme = false; };
      error = "with acme = false set certificate";
    };
    soap-sources-on-loopback = {
      configuration = with' { services.housify-soap.allowedSources = [ "10.0.1.11/32" ]; };
      error = "remote API hosts could not connect";
    };
    no-ai-server = {
      configuration = with' { services.housify-ai.enable = false; };
      error = "aiServers is empty";
    };
    lan-name-without-mac = {
      configuration = with' { services.housify.firewall.lanMacAddress = null; };
      error = "a name no kernel gives a NIC: set services.housify.firewall.lanMacAddress";
    };
    nixos-firewall-too = {
      configuration = with' { networking.firewall.enable = true; };
      error = "leave networking.firewall.enable false";
    };
    btcpay-without-secrets = {
      configuration = with' {
        services.housify-api.btcpay = {
          enable = true;
          url = "https://pay.example.com";
          storeId = "store";
        };
      };
      error = "services.housify-api.btcpay: enable needs url, storeId, apiKeyFile and webhookSecretFile";
    };
    s3-without-keys = {
      configuration = with' { services.housify-api.storage.backend = "s3"; };
      error = "services.housify-api.storage.s3: set accessKeyIdFile and secretAccessKeyFile";
    };
    s3-key-in-nix-store = {
      configuration = with' {
        services.housify-api.storage = s3Storage // {
          s3 = s3Storage.s3 // { secretAccessKeyFile = "/nix/store/00000000000000000000000000000000-s3"; };
        };
      };
      error = "is not of type";
    };
    garage-without-secrets = {
      configuration = with' {
        services.housify.garage = {
          enable = true;
          rpcPublicAddress = "10.0.1.10:3901";
        };
      };
      error = "set rpcSecretFile and adminTokenFile";
    };
    garage-more-copies-than-nodes = {
      configuration = {
        imports = [ s3case ];
        services.housify.garage.replicationFactor = 3;
      };
      error = "replicationFactor (3) exceeds expectedNodes (1)";
    };
    nfs-export-of-s3-store = {
      configuration = {
        imports = [ s3case ];
        services.housify = {
          lan.address = "10.0.1.10";
          postgresql.tls = pgTls;
          redis.tls = redisTls;
          storage.nfsExport = true;
          redis.passwordFile = "/run/secrets/housify/redis-password";
        };
        services.housify-api.redis = {
          url = null;
          urlFile = "/run/secrets/housify/redis-url";
        };
        services.housify-ai.redis = {
          url = null;
          urlFile = "/run/secrets/housify/redis-url";
        };
      };
      error = "nfsExport exports the directory store";
    };
    http3-on-old-nginx = {
      configuration = with' {
        services.nginx.package = {
          type = "derivation";
          name = "nginx-1.22.1";
          version = "1.22.1";
          outPath = "/nix/store/00000000000000000000000000000000-nginx-1.22.1";
        };
      };
      error = "http3 needs nginx >= 1.25.0";
    };
  };
}
