"""A schema with views, functions and row data the read-only guard tests (and bench) use."""

SCHEMA = """
CREATE TABLE regions (id int PRIMARY KEY, name text NOT NULL, parent_id int REFERENCES regions);
CREATE TABLE customers (
    id serial PRIMARY KEY, name text NOT NULL, email text, country text, segment text,
    created_at timestamptz NOT NULL DEFAULT now(), attrs jsonb NOT NULL DEFAULT '{}');
CREATE TABLE products (
    id serial PRIMARY KEY, name text NOT NULL, category text, price numeric(10,2), sku text,
    active boolean NOT NULL DEFAULT true, tags text[] NOT NULL DEFAULT '{}');
CREATE TABLE orders (
    id serial PRIMARY KEY, customer_id int REFERENCES customers, region_id int REFERENCES regions,
    status text NOT NULL, total numeric(12,2) NOT NULL, created_at timestamptz NOT NULL,
    shipped_at timestamptz, meta jsonb NOT NULL DEFAULT '{}', note text);
CREATE TABLE order_items (
    order_id int REFERENCES orders, product_id int REFERENCES products, quantity int NOT NULL,
    unit_price numeric(10,2) NOT NULL);
CREATE TABLE payments (
    id serial PRIMARY KEY, order_id int REFERENCES orders, amount numeric(12,2) NOT NULL,
    method text NOT NULL, paid_at timestamptz NOT NULL);
CREATE TABLE events (
    id bigserial PRIMARY KEY, customer_id int, kind text NOT NULL, payload jsonb NOT NULL,
    occurred_at timestamptz NOT NULL);
CREATE TABLE employees (
    id int PRIMARY KEY, name text NOT NULL, manager_id int REFERENCES employees,
    department text NOT NULL, salary numeric NOT NULL, hired_at date NOT NULL);
CREATE TABLE audit_log (id serial PRIMARY KEY, action text, at timestamptz DEFAULT now());
CREATE SEQUENCE report_seq;
CREATE VIEW order_totals AS SELECT customer_id, sum(total) AS total FROM orders GROUP BY 1;

INSERT INTO regions VALUES (1, 'Europe', NULL), (2, 'Germany', 1), (3, 'France', 1),
    (4, 'Americas', NULL), (5, 'USA', 4);
INSERT INTO customers (name, email, country, segment, created_at, attrs) VALUES
    ('Ada Smith', 'ada@example.com', 'DE', 'retail', now() - interval '400 days',
     '{"tier": "gold", "score": 42}'),
    ('Bob Jones', 'bob@example.com', 'FR', 'retail', now() - interval '200 days', '{"tier": "silver"}'),
    ('Chloé Brûlée', 'chloe@example.org', 'FR', 'b2b', now() - interval '90 days', '{}'),
    ('Dan Smithson', 'dan@example.com', 'US', 'b2b', now() - interval '10 days',
     '{"tier": "gold", "score": 7}'),
    ('Eve Adams', NULL, 'US', 'retail', now() - interval '3 days', '{}');
INSERT INTO products (name, category, price, sku, active, tags) VALUES
    ('Blue shirt', 'apparel', 19.99, 'SH-1', true, '{sale,new}'),
    ('Red shirt', 'apparel', 24.50, 'SH-2', true, '{new}'),
    ('Mug', 'home', 8.00, 'MG-1', true, '{}'),
    ('Lamp', 'home', 45.00, 'LP-1', false, '{sale}');
INSERT INTO orders (customer_id, region_id, status, total, created_at, shipped_at, meta, note)
SELECT 1 + (g % 5), 1 + (g % 5), (ARRAY['shipped', 'delivered', 'cancelled', 'pending'])[1 + g % 4],
       (g * 7.25)::numeric(12,2), now() - make_interval(days => g * 9),
       CASE WHEN g % 4 < 2 THEN now() - make_interval(days => g * 9) + interval '30 hours' END,
       jsonb_build_object('channel', CASE WHEN g % 2 = 0 THEN 'web' ELSE 'store' END,
                          'shipping', jsonb_build_object('city', 'Berlin', 'zip', '10115'),
                          'items', jsonb_build_array('SH-1', 'MG-1'), 'gift', g % 3 = 0),
       CASE WHEN g % 3 = 0 THEN 'gift #birthday' END
FROM generate_series(1, 40) AS g;
INSERT INTO order_items SELECT o.id, 1 + o.id % 4, 1 + o.id % 3, 9.99 FROM orders o;
INSERT INTO payments (order_id, amount, method, paid_at)
SELECT id, total, CASE WHEN id % 2 = 0 THEN 'card' ELSE 'paypal' END, created_at
FROM orders WHERE status <> 'cancelled';
INSERT INTO events (customer_id, kind, payload, occurred_at)
SELECT 1 + g % 5, CASE WHEN g % 3 = 0 THEN 'purchase' ELSE 'view' END,
       jsonb_build_object('page', '/p/' || g % 4, 'items',
                          jsonb_build_array(jsonb_build_object('sku', 'SH-1', 'qty', g % 3))),
       now() - make_interval(hours => g * 5)
FROM generate_series(1, 60) AS g;
INSERT INTO employees VALUES
    (1, 'Grace', NULL, 'eng', 200000, '2015-03-01'), (2, 'Alan', 1, 'eng', 150000, '2018-06-15'),
    (3, 'Linus', 2, 'eng', 120000, '2021-01-10'), (4, 'Barbara', 1, 'sales', 90000, '2019-09-09'),
    (5, 'Ken', 4, 'sales', 85000, '2022-02-02');
INSERT INTO audit_log (action) VALUES ('seed');
ANALYZE;
"""
