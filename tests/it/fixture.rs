//! A Supabase-like database: the platform side a fresh project has, and a
//! user's app on top of it with the data that breaks naive dump tools.

use crate::pg::PgCluster;

/// Cluster-wide roles of a Supabase project (run once per cluster).
pub const PLATFORM_ROLES: &str = r#"
CREATE ROLE anon NOLOGIN NOINHERIT;
CREATE ROLE authenticated NOLOGIN NOINHERIT;
CREATE ROLE service_role NOLOGIN NOINHERIT BYPASSRLS;
CREATE ROLE authenticator LOGIN NOINHERIT PASSWORD 'authenticator-pw';
GRANT anon, authenticated, service_role TO authenticator;
CREATE ROLE supabase_admin NOLOGIN;
CREATE ROLE supabase_auth_admin NOLOGIN NOINHERIT CREATEROLE;
CREATE ROLE supabase_storage_admin NOLOGIN NOINHERIT CREATEROLE;
CREATE ROLE dashboard_user NOLOGIN CREATEROLE CREATEDB;
"#;

/// What a fresh Supabase project's database holds (run per database).
pub const PLATFORM_SCHEMA: &str = r#"
CREATE SCHEMA extensions;
CREATE EXTENSION pgcrypto WITH SCHEMA extensions;
CREATE EXTENSION "uuid-ossp" WITH SCHEMA extensions;

CREATE SCHEMA auth AUTHORIZATION supabase_auth_admin;
CREATE TABLE auth.users (
    instance_id uuid,
    id uuid PRIMARY KEY,
    aud varchar(255),
    role varchar(255),
    email varchar(255) UNIQUE,
    encrypted_password varchar(255),
    raw_user_meta_data jsonb,
    created_at timestamptz DEFAULT now(),
    updated_at timestamptz
);
CREATE TABLE auth.identities (
    id text NOT NULL,
    user_id uuid NOT NULL REFERENCES auth.users(id) ON DELETE CASCADE,
    identity_data jsonb NOT NULL,
    provider text NOT NULL,
    PRIMARY KEY (provider, id)
);
CREATE TABLE auth.schema_migrations (version varchar(255) PRIMARY KEY);
INSERT INTO auth.schema_migrations VALUES ('20171026211738'), ('20221208132122');
CREATE FUNCTION auth.uid() RETURNS uuid LANGUAGE sql STABLE AS
$$ SELECT nullif(current_setting('request.jwt.claim.sub', true), '')::uuid $$;
ALTER TABLE auth.users OWNER TO supabase_auth_admin;
ALTER TABLE auth.identities OWNER TO supabase_auth_admin;

CREATE SCHEMA storage AUTHORIZATION supabase_storage_admin;
CREATE TABLE storage.buckets (
    id text PRIMARY KEY,
    name text NOT NULL UNIQUE,
    owner uuid,
    public boolean DEFAULT false,
    created_at timestamptz DEFAULT now(),
    updated_at timestamptz DEFAULT now()
);
CREATE TABLE storage.objects (
    id uuid PRIMARY KEY DEFAULT extensions.gen_random_uuid(),
    bucket_id text REFERENCES storage.buckets(id),
    name text,
    owner uuid,
    metadata jsonb,
    created_at timestamptz DEFAULT now(),
    updated_at timestamptz DEFAULT now()
);
CREATE TABLE storage.migrations (id integer PRIMARY KEY, name varchar(100) NOT NULL UNIQUE);
INSERT INTO storage.migrations VALUES (0, 'create-migrations-table'), (1, 'initialmigration');
CREATE FUNCTION storage.update_updated_at_column() RETURNS trigger LANGUAGE plpgsql AS
$$ BEGIN NEW.updated_at = now(); RETURN NEW; END $$;
CREATE TRIGGER update_objects_updated_at BEFORE UPDATE ON storage.objects
    FOR EACH ROW EXECUTE FUNCTION storage.update_updated_at_column();
ALTER TABLE storage.objects ENABLE ROW LEVEL SECURITY;
ALTER TABLE storage.buckets ENABLE ROW LEVEL SECURITY;

CREATE SCHEMA realtime;
CREATE TABLE realtime.schema_migrations (version bigint PRIMARY KEY, inserted_at timestamp(0));
INSERT INTO realtime.schema_migrations VALUES (20211116024918, now());

CREATE PUBLICATION supabase_realtime;

GRANT USAGE ON SCHEMA public, auth, storage, extensions TO anon, authenticated, service_role;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT ALL ON TABLES TO anon, authenticated, service_role;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT ALL ON FUNCTIONS TO anon, authenticated, service_role;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT ALL ON SEQUENCES TO anon, authenticated, service_role;
"#;

/// A user's app: enums, domains, RLS, the on_auth_user_created trigger,
/// identity and generated columns, partitions, circular deferrable foreign
/// keys, views, a materialized view, a login role, storage policies, a
/// realtime table, nasty data and a 120k-row table.
pub const USER_APP: &str = r#"
CREATE TYPE public.mood AS ENUM ('happy', 'sad', 'it''s complicated');
CREATE DOMAIN public.email AS text CHECK (VALUE ~ '^[^@]+@[^@]+$');

CREATE TABLE public.profiles (
    id uuid PRIMARY KEY REFERENCES auth.users(id) ON DELETE CASCADE,
    username text UNIQUE,
    email public.email,
    mood public.mood DEFAULT 'happy',
    seq bigint GENERATED ALWAYS AS IDENTITY,
    name_upper text GENERATED ALWAYS AS (upper(username)) STORED,
    created_at timestamptz DEFAULT now()
);
ALTER TABLE public.profiles ENABLE ROW LEVEL SECURITY;
CREATE POLICY "own profile" ON public.profiles FOR SELECT TO authenticated USING (auth.uid() = id);
CREATE POLICY "update own" ON public.profiles FOR UPDATE TO authenticated
    USING (auth.uid() = id) WITH CHECK (auth.uid() = id);

CREATE FUNCTION public.handle_new_user() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
SET search_path = '' AS $$
BEGIN
  INSERT INTO public.profiles (id, username, email)
  VALUES (NEW.id, NEW.raw_user_meta_data->>'username', NEW.email);
  RETURN NEW;
END $$;
CREATE TRIGGER on_auth_user_created AFTER INSERT ON auth.users
    FOR EACH ROW EXECUTE FUNCTION public.handle_new_user();

CREATE POLICY "avatars are public" ON storage.objects FOR SELECT USING (bucket_id = 'avatars');
CREATE POLICY "users upload own avatar" ON storage.objects FOR INSERT TO authenticated
    WITH CHECK (bucket_id = 'avatars' AND owner = auth.uid());
CREATE POLICY "buckets are readable" ON storage.buckets FOR SELECT TO anon, authenticated USING (true);

CREATE TABLE public.events (id bigint NOT NULL, at date NOT NULL, payload jsonb) PARTITION BY RANGE (at);
CREATE TABLE public.events_2025 PARTITION OF public.events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
CREATE TABLE public.events_2026 PARTITION OF public.events FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');

CREATE TABLE public.teams (id integer PRIMARY KEY, name text NOT NULL, captain_id integer);
CREATE TABLE public.players (
    id integer PRIMARY KEY,
    name text NOT NULL,
    team_id integer REFERENCES public.teams(id) DEFERRABLE INITIALLY DEFERRED
);
ALTER TABLE public.teams ADD CONSTRAINT teams_captain_fk
    FOREIGN KEY (captain_id) REFERENCES public.players(id) DEFERRABLE INITIALLY DEFERRED;

CREATE VIEW public.happy_people AS SELECT username FROM public.profiles WHERE mood = 'happy';
CREATE MATERIALIZED VIEW public.team_sizes AS
    SELECT team_id, count(*) AS players FROM public.players GROUP BY team_id;

ALTER PUBLICATION supabase_realtime ADD TABLE public.profiles;

CREATE ROLE app_reader LOGIN PASSWORD 'reader-password';
GRANT USAGE ON SCHEMA public TO app_reader;
GRANT SELECT ON public.profiles, public.players TO app_reader;
GRANT authenticated TO app_reader;

CREATE TABLE public.nasty (id integer PRIMARY KEY, t text, b bytea, arr text[], j jsonb);
INSERT INTO public.nasty VALUES
 (1, NULL, NULL, NULL, NULL),
 (2, '', '\x'::bytea, '{}', '{}'),
 (3, E'line one\nline two\r\nthree', '\x00010200ff'::bytea, ARRAY['a,b', 'c"d', 'e\f', NULL, ''], '{"k": "v\"q"}'),
 (4, E'tab\there', '\x5c2e0a'::bytea, ARRAY['{braces}', ' spaced '], '[1, "two", null]'),
 (5, E'\\.', E'\\x5c2e'::bytea, ARRAY[E'\\.'], '{"emoji": "🐘"}'),
 (6, E'back\\slash \\N not null', '\x00'::bytea, ARRAY['NULL'], 'null'),
 (7, E'\\.\nafter', NULL, NULL, NULL),
 (8, 'emoji 🐘🚀 and ünïcödé', NULL, NULL, NULL);

CREATE TABLE public.big (id bigint PRIMARY KEY, payload text NOT NULL);
INSERT INTO public.big SELECT g, md5(g::text) || repeat('x', g % 17) FROM generate_series(1, 120000) g;

INSERT INTO auth.users (id, aud, role, email, encrypted_password, raw_user_meta_data) VALUES
 ('00000000-0000-0000-0000-000000000001', 'authenticated', 'authenticated', 'ada@example.com', 'hash1', '{"username": "ada"}'),
 ('00000000-0000-0000-0000-000000000002', 'authenticated', 'authenticated', 'bob@example.com', 'hash2', '{"username": "bob"}'),
 ('00000000-0000-0000-0000-000000000003', 'authenticated', 'authenticated', 'cy@example.com', 'hash3', '{"username": "cy"}');
INSERT INTO auth.identities VALUES
 ('ada', '00000000-0000-0000-0000-000000000001', '{"sub": "ada"}', 'email'),
 ('bob', '00000000-0000-0000-0000-000000000002', '{"sub": "bob"}', 'email');
UPDATE public.profiles SET mood = 'it''s complicated' WHERE username = 'bob';
INSERT INTO storage.buckets (id, name, public) VALUES ('avatars', 'avatars', true);
INSERT INTO storage.objects (bucket_id, name, owner) VALUES
 ('avatars', 'ada.png', '00000000-0000-0000-0000-000000000001');

BEGIN;
INSERT INTO public.teams VALUES (1, 'red', 10), (2, 'blue', 20);
INSERT INTO public.players VALUES (10, 'p10', 1), (11, 'p11', 1), (20, 'p20', 2);
COMMIT;
INSERT INTO public.events SELECT g, date '2025-06-01' + (g % 400), jsonb_build_object('n', g) FROM generate_series(1, 500) g;
REFRESH MATERIALIZED VIEW public.team_sizes;
"#;

/// Prepares `db` on `pg` like a fresh Supabase project (roles once per cluster).
pub fn fresh_supabase(pg: &PgCluster, db: &str, with_roles: bool) {
    if with_roles {
        pg.psql("postgres", PLATFORM_ROLES);
    }
    if db != "postgres" {
        pg.create_db(db);
    }
    pg.psql(db, PLATFORM_SCHEMA);
}

/// A Supabase-like project with the user's app and data in `db`.
pub fn supabase_app(pg: &PgCluster, db: &str) {
    fresh_supabase(pg, db, true);
    pg.psql(db, USER_APP);
}

/// Every table compared: a digest of its rows, per table.
pub const TABLES: &[&str] = &[
    "auth.users",
    "auth.identities",
    "storage.buckets",
    "storage.objects",
    "public.profiles",
    "public.events_2025",
    "public.events_2026",
    "public.teams",
    "public.players",
    "public.nasty",
    "public.big",
];

/// A digest of a table's rows (order-independent) and its row count.
pub fn digest(pg: &PgCluster, db: &str, table: &str) -> String {
    pg.psql(
        db,
        &format!(
            "SELECT count(*) || ':' || coalesce(md5(string_agg(t::text, '|' ORDER BY t::text)), '-') FROM {table} t"
        ),
    )
}
