# services.housify: the edge/web host of a Housify deployment. Wires the API
# instances and the SOAP service with nginx (TLS, HTTP/2, HTTP/3, load
# balancing, WebSocket, X-Accel-Redirect), PostgreSQL, Redis, a send-only mail
# server, backups and the nftables firewall. GPU hosts import this module too
# and enable only services.housify-ai and services.housify.firewall.
{
  config,
  lib,
  pkgs,
  ...
}:

let
  inherit (lib)
    types
    mkOption
    mkEnableOption
    mkIf
    mkDefault
    ;
  hlib = import ./lib.nix { inherit lib; };
  cfg = config.services.housify;
  api = config.services.housify-api;
  soap = config.services.housify-soap;
  ai = config.services.housify-ai;
  fw = config.services.housify.firewall;

  databases = [
    "housify"
    "housify_ai"
    "housify_soap"
  ];
  lanExposed = cfg.lan.address != null;

  securityHeaders = ''
    add_header Strict-Transport-Security "max-age=63072000; includeSubDomains" always;
    add_header X-Content-Type-Options "nosniff" always;
    add_header X-Frame-Options "DENY" always;
    add_header Referrer-Policy "no-referrer" always;
    add_header Permissions-Policy "camera=(), microphone=(), geolocation=()" always;
    add_header Cross-Origin-Opener-Policy "same-origin" always;
    add_header Alt-Svc 'h3=":443"; ma=86400' always;
  '';
in
{
  imports = [
    ./housify-api.nix
    ./housify-ai.nix
    ./housify-soap.nix
    ./housify-firewall.nix
  ];

  options.services.housify = {
    enable = mkEnableOption "the Housify edge host (nginx, API, SOAP, PostgreSQL, Redis, mail)";

    domain = mkOption {
      type = types.str;
      example = "housify.example.com";
      description = "Public host name of the API (nginx virtual host, ACME certificate, mail origin).";
    };

    tls = {
      acme = mkOption {
        type = types.bool;
        default = true;
        description = "Obtain the certificate with ACME (Let's Encrypt, HTTP-01 on port 80).";
      };
      acmeEmail = mkOption {
        type = types.nullOr types.str;
        default = null;
        description = "Contact address for the ACME account (accepting the CA's terms).";
      };
      certificate = mkOption {
        type = types.nullOr types.str;
        default = null;
        description = "PEM certificate chain when `acme` is false.";
      };
      certificateKey = mkOption {
        type = types.nullOr hlib.secretPath;
        default = null;
        description = "PEM private key when `acme` is false: outside the Nix store and readable by the `nginx` user.";
      };
    };

    maxUploadSize = mkOption {
      type = types.strMatching "[0-9]+[kKmMgG]?";
      default = "1000M";
      description = ''
        nginx `client_max_body_size`: the largest upload of any subscription
        level (Pro-Tier: 1000 MB, DESIGN.md §4); the API enforces each
        level's own limit with 413.
      '';
    };

    aiServers = mkOption {
      type = types.listOf types.str;
      default = lib.optional (ai.enable && ai.api.enable) "127.0.0.1:${toString ai.api.port}";
      defaultText = lib.literalExpression ''[ "127.0.0.1:8200" ] when housify-ai runs here'';
      example = [
        "10.0.1.20:8200"
        "10.0.1.21:8200"
      ];
      description = "host:port of every AI server's internal API (nginx upstream `housify_ai`, least_conn).";
    };

    aiProxyPort = mkOption {
      type = types.port;
      default = 8280;
      description = ''
        Loopback port of nginx's internal AI proxy: the API's `HOUSIFY_AI_URL`
        for short calls (prompt assistant), balanced over `aiServers`.
      '';
    };

    lan.address = mkOption {
      type = types.nullOr types.str;
      default = null;
      example = "10.0.1.10";
      description = ''
        This host's LAN address. When set, PostgreSQL and Redis also listen
        on it for the AI hosts (the firewall admits `firewall.internalSubnets`).
      '';
    };

    redis.passwordFile = hlib.mkSecretOption ''
      Password Redis requires (`requirepass`), needed once Redis listens on
      the LAN. Local services then read the full URL from their
      `redis.urlFile` (`unix://:<password>@/run/redis-housify/redis.sock`).
    '';

    postgresql.aiPasswordFile = hlib.mkSecretOption ''
      Password of the `housify_ai` role for AI hosts connecting over the LAN
      (scram-sha-256); set by a oneshot unit after PostgreSQL starts.
    '';

    storage.nfsExport = mkOption {
      type = types.bool;
      default = false;
      description = "Export the image storage over NFSv4 to `firewall.internalSubnets` (AI hosts write results there).";
    };

    mail.enable = mkOption {
      type = types.bool;
      default = true;
      description = "A send-only Postfix on loopback for login and account emails (the API's SMTP server).";
    };

    backup = {
      enable = mkOption {
        type = types.bool;
        default = true;
        description = "Nightly `pg_dump` of the three databases (services.postgresqlBackup).";
      };
      location = mkOption {
        type = types.str;
        default = "/var/backup/postgresql";
        description = "Directory of the compressed dumps.";
      };
    };
  };

  config = mkIf cfg.enable {
    assertions = [
      {
        assertion = cfg.tls.acme || (cfg.tls.certificate != null && cfg.tls.certificateKey != null);
        message = "services.housify.tls: with acme = false set certificate and certificateKey.";
      }
      {
        assertion = !cfg.tls.acme || cfg.tls.acmeEmail != null;
        message = "services.housify.tls.acmeEmail is required for ACME.";
      }
      {
        assertion = cfg.aiServers != [ ];
        message = "services.housify.aiServers is empty: list the AI hosts' internal APIs (host:port).";
      }
      {
        assertion = !lanExposed || cfg.redis.passwordFile != null;
        message = "services.housify.redis.passwordFile is required when Redis listens on the LAN (lan.address is set).";
      }
      {
        assertion = cfg.redis.passwordFile == null || (api.redis.urlFile != null && (!ai.enable || ai.redis.urlFile != null));
        message = "Redis requires a password: set services.housify-api.redis.urlFile (and housify-ai's) to a URL that carries it.";
      }
      {
        assertion = !cfg.storage.nfsExport || lanExposed;
        message = "services.housify.storage.nfsExport needs lan.address.";
      }
    ];

    services.housify-api = {
      enable = mkDefault true;
      aiUrl = mkDefault "http://127.0.0.1:${toString cfg.aiProxyPort}";
      soapWsdlUrl = mkDefault "http://127.0.0.1:${toString soap.port}/soap?wsdl";
      publicUrl = mkDefault "https://${cfg.domain}";
      corsOrigins = mkDefault [ "https://${cfg.domain}" ];
      smtp = {
        host = mkDefault "127.0.0.1";
        port = mkDefault 25;
        from = mkDefault "Housify <no-reply@${cfg.domain}>";
      };
    };
    services.housify-soap.enable = mkDefault true;

    # --- nginx -------------------------------------------------------------
    services.nginx = {
      enable = true;
      package = pkgs.nginxQuic; # HTTP/3 (QUIC)
      recommendedTlsSettings = true;
      recommendedOptimisation = true;
      recommendedGzipSettings = true;
      recommendedProxySettings = true;
      # TLS 1.3 first; 1.2 stays for older Android clients.
      sslProtocols = "TLSv1.3 TLSv1.2";
      clientMaxBodySize = cfg.maxUploadSize;

      upstreams = {
        housify_api = {
          servers = lib.listToAttrs (
            map (port: lib.nameValuePair "${api.listenAddress}:${toString port}" { }) api.ports
          );
          extraConfig = "least_conn;";
        };
        housify_ai = {
          servers = lib.genAttrs cfg.aiServers (_: { });
          extraConfig = "least_conn;";
        };
      };

      virtualHosts.${cfg.domain} = {
        forceSSL = true;
        enableACME = cfg.tls.acme;
        sslCertificate = mkIf (!cfg.tls.acme) cfg.tls.certificate;
        sslCertificateKey = mkIf (!cfg.tls.acme) cfg.tls.certificateKey;
        http2 = true;
        http3 = true;
        quic = true;
        extraConfig = securityHeaders;
        locations = {
          "/".proxyPass = "http://housify_api";
          # Job progress (DESIGN.md §5): WebSocket upgrade, long-lived.
          "~ ^/jobs/[^/]+/events$" = {
            proxyPass = "http://housify_api";
            proxyWebsockets = true;
            extraConfig = ''
              proxy_read_timeout 1h;
              proxy_send_timeout 1h;
            '';
          };
          # Image bytes after the API's permission check (X-Accel-Redirect).
          ${api.accelRedirectPrefix} = {
            alias = "${api.storageDir}/";
            extraConfig = ''
              internal;
              # No `expires` here: it would replace the API's Cache-Control
              # (`private` for pictures that are not public) with a public max-age.
            '';
          };
          # Prometheus metrics: LAN and management only.
          "= /metrics" = {
            proxyPass = "http://housify_api";
            extraConfig = ''
              ${lib.concatMapStrings (s: "allow ${s};\n") (
                [
                  "127.0.0.1"
                  "::1"
                ]
                ++ fw.internalSubnets
                ++ fw.managementSubnets
              )}deny all;
            '';
          };
        };
      };

      # Internal upstream for the AI servers' short calls (HOUSIFY_AI_URL).
      virtualHosts.housify-ai-internal = {
        listen = [
          {
            addr = "127.0.0.1";
            port = cfg.aiProxyPort;
          }
        ];
        locations."/" = {
          proxyPass = "http://housify_ai";
          extraConfig = ''
            proxy_read_timeout 120s;
            proxy_next_upstream error timeout http_502 http_503;
          '';
        };
      };
    };
    # nginx serves the storage for X-Accel-Redirect: group read.
    users.users.nginx.extraGroups = [ api.group ];

    security.acme = mkIf (cfg.tls.acme && cfg.tls.acmeEmail != null) {
      acceptTerms = true;
      defaults.email = cfg.tls.acmeEmail;
    };

    # --- PostgreSQL --------------------------------------------------------
    services.postgresql = {
      enable = true;
      ensureDatabases = databases;
      ensureUsers = map (name: {
        inherit name;
        ensureDBOwnership = true;
      }) databases;
      # System users (housify, housify-ai, housify-soap) -> roles.
      identMap = ''
        housify housify housify
        housify housify-ai housify_ai
        housify housify-soap housify_soap
      '';
      authentication = lib.concatStrings (
        map (db: "local ${db} ${db} peer map=housify\n") databases
        ++ lib.optionals lanExposed (
          map (s: "host housify_ai housify_ai ${s} scram-sha-256\n") fw.internalSubnets
        )
      );
      settings = mkIf lanExposed {
        # nixpkgs sets "localhost" (or "*" with enableTCPIP): LAN address only.
        listen_addresses = lib.mkForce "localhost,${cfg.lan.address}";
        password_encryption = "scram-sha-256";
      };
    };

    systemd.services.housify-postgresql-passwords = mkIf (cfg.postgresql.aiPasswordFile != null) {
      description = "Set the housify_ai role's password for remote AI hosts";
      wantedBy = [ "multi-user.target" ];
      after = [
        "postgresql.service"
        "postgresql-setup.service"
      ];
      requires = [ "postgresql.service" ];
      path = [ config.services.postgresql.package ];
      # The password is read by psql itself (backtick) from the credential,
      # so it never appears on a command line.
      script = ''
        psql -v ON_ERROR_STOP=1 -d postgres <<'SQL'
        \set pw `cat "$CREDENTIALS_DIRECTORY/ai-password"`
        ALTER ROLE housify_ai WITH PASSWORD :'pw';
        SQL
      '';
      serviceConfig = hlib.hardening // {
        Type = "oneshot";
        RemainAfterExit = true;
        User = "postgres";
        Group = "postgres";
        LoadCredential = [ "ai-password:${cfg.postgresql.aiPasswordFile}" ];
      };
    };

    services.postgresqlBackup = mkIf cfg.backup.enable {
      enable = true;
      inherit databases;
      inherit (cfg.backup) location;
      compression = "zstd";
      startAt = "*-*-* 02:15:00";
    };

    # --- Redis -------------------------------------------------------------
    services.redis.servers.housify = {
      enable = true;
      # TCP only when AI hosts connect over the LAN; otherwise the socket.
      port = if lanExposed then 6379 else 0;
      bind = if lanExposed then "127.0.0.1 ${cfg.lan.address}" else "127.0.0.1";
      requirePassFile = cfg.redis.passwordFile;
      unixSocketPerm = 660;
      # Queued jobs survive a Redis restart.
      appendOnly = true;
      # Job streams must never be evicted.
      settings.maxmemory-policy = "noeviction";
    };

    # --- image storage over NFS to the GPU hosts ----------------------------
    services.nfs.server = mkIf cfg.storage.nfsExport {
      enable = true;
      exports = ''
        ${api.storageDir} ${
          lib.concatMapStringsSep " " (s: "${s}(rw,sync,no_subtree_check,root_squash)") fw.internalSubnets
        }
      '';
    };

    # --- mail: send-only Postfix on loopback --------------------------------
    services.postfix = mkIf cfg.mail.enable {
      enable = true;
      settings.main = {
        myhostname = cfg.domain;
        myorigin = cfg.domain;
        mydestination = "";
        inet_interfaces = "loopback-only";
        mynetworks = [
          "127.0.0.0/8"
          "[::1]/128"
        ];
        smtp_tls_security_level = "may";
        smtpd_tls_security_level = "none";
      };
    };
  };
}
