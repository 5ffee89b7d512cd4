-- pgask's demo database `shop`: generated on the server, deterministic for a given
-- seed, scale and day (orders run up to :'today', so "last month" always has rows).
-- psql variables: seed (0..1), scale (orders), today (YYYY-MM-DD).
\set ON_ERROR_STOP on
SET client_min_messages = warning;
SET max_parallel_workers_per_gather = 0;  -- one backend, so random() follows the seed
SELECT setseed(:seed);

CREATE TYPE order_status AS ENUM ('pending', 'paid', 'shipped', 'delivered', 'cancelled', 'refunded');
COMMENT ON TYPE order_status IS 'Where an order is in its life: pending -> paid -> shipped -> delivered, or cancelled / refunded';

CREATE TABLE regions (
    id      smallint PRIMARY KEY,
    name    text NOT NULL UNIQUE,
    country text NOT NULL
);
COMMENT ON TABLE regions IS 'Sales regions; every customer belongs to one';

CREATE TABLE customers (
    id         integer PRIMARY KEY,
    name       text NOT NULL,
    email      text UNIQUE,
    region_id  smallint NOT NULL REFERENCES regions(id),
    created_at timestamptz NOT NULL,
    is_active  boolean NOT NULL DEFAULT true
);
COMMENT ON TABLE customers IS 'People and companies who buy from the shop';
COMMENT ON COLUMN customers.email IS 'Contact address; NULL when the customer gave none';
COMMENT ON COLUMN customers.created_at IS 'When the customer signed up';

CREATE TABLE categories (
    id        smallint PRIMARY KEY,
    name      text NOT NULL UNIQUE,
    parent_id smallint REFERENCES categories(id)
);
COMMENT ON TABLE categories IS 'Product categories, two levels deep';

CREATE TABLE products (
    id          integer PRIMARY KEY,
    name        text NOT NULL,
    sku         text NOT NULL UNIQUE,
    category_id smallint NOT NULL REFERENCES categories(id),
    price       numeric(10,2) NOT NULL CHECK (price > 0),
    active      boolean NOT NULL DEFAULT true
);
COMMENT ON TABLE products IS 'What the shop sells';
COMMENT ON COLUMN products.price IS 'List price in EUR';

CREATE TABLE orders (
    id          bigint PRIMARY KEY,
    customer_id integer NOT NULL REFERENCES customers(id),
    status      order_status NOT NULL DEFAULT 'pending',
    created_at  timestamptz NOT NULL,
    total       numeric(12,2) NOT NULL DEFAULT 0
);
COMMENT ON TABLE orders IS 'One row per order a customer placed';
COMMENT ON COLUMN orders.total IS 'Order value in EUR: the sum of its items (revenue)';
COMMENT ON COLUMN orders.created_at IS 'When the order was placed';

CREATE TABLE order_items (
    order_id   bigint NOT NULL REFERENCES orders(id),
    line       smallint NOT NULL,
    product_id integer NOT NULL REFERENCES products(id),
    quantity   integer NOT NULL CHECK (quantity > 0),
    unit_price numeric(10,2) NOT NULL,
    PRIMARY KEY (order_id, line)
);
COMMENT ON TABLE order_items IS 'The products in each order';

CREATE TABLE payments (
    id       bigint PRIMARY KEY,
    order_id bigint NOT NULL REFERENCES orders(id),
    method   text NOT NULL,
    amount   numeric(12,2) NOT NULL,
    paid_at  timestamptz NOT NULL
);
COMMENT ON TABLE payments IS 'Money received for orders';
COMMENT ON COLUMN payments.method IS 'card, paypal, bank_transfer or voucher';

CREATE TABLE shipments (
    id           bigint PRIMARY KEY,
    order_id     bigint NOT NULL REFERENCES orders(id),
    carrier      text NOT NULL,
    shipped_at   timestamptz NOT NULL,
    delivered_at timestamptz
);
COMMENT ON TABLE shipments IS 'Parcels sent for orders; delivered_at is NULL while in transit';

INSERT INTO regions VALUES
  (1, 'North', 'DE'), (2, 'South', 'DE'), (3, 'West', 'FR'), (4, 'East', 'PL'),
  (5, 'Nordics', 'SE'), (6, 'Iberia', 'ES'), (7, 'Benelux', 'NL'), (8, 'Alps', 'AT');

INSERT INTO categories VALUES
  (1, 'Electronics', NULL), (2, 'Home', NULL), (3, 'Outdoor', NULL), (4, 'Books', NULL),
  (11, 'Phones', 1), (12, 'Laptops', 1), (13, 'Audio', 1),
  (21, 'Kitchen', 2), (22, 'Furniture', 2), (31, 'Camping', 3), (32, 'Cycling', 3),
  (41, 'Fiction', 4), (42, 'Cooking', 4);

WITH first(n) AS (SELECT ARRAY['Anna','Ben','Chloé','David','Elif','Finn','Greta','Hugo','Ines','Jonas',
                            'Karin','Luca','Mia','Noah','Olga','Paul','Rosa','Sami','Tara','Umar']),
     last(n) AS (SELECT ARRAY['Müller','Schmidt','Dubois','Kowalski','Larsen','García','de Vries','Huber',
                           'Rossi','Novak','Berg','Silva','Weber','Martin','Nowak','Lindqvist'])
INSERT INTO customers
SELECT g,
       f.n[1 + floor(random() * 20)::int] || ' ' || l.n[1 + floor(random() * 16)::int],
       CASE WHEN random() < 0.08 THEN NULL ELSE 'customer' || g || '@example.com' END,
       1 + floor(random() * 8)::int,
       (:'today'::date - 900)::timestamptz + random() * interval '880 days',
       random() > 0.1
FROM generate_series(1, greatest(50, :scale / 5)) g, first f, last l;

INSERT INTO products
SELECT g,
       (ARRAY['Basic','Pro','Ultra','Mini','Classic','Eco','Smart','Travel'])[1 + floor(random() * 8)::int] || ' ' ||
       c.name || ' ' || g,
       'SKU-' || lpad(g::text, 6, '0'),
       c.id,
       round((5 + random() * random() * 1500)::numeric, 2),
       random() > 0.05
FROM generate_series(1, 500) g
JOIN LATERAL (SELECT id, name FROM categories WHERE parent_id IS NOT NULL
              ORDER BY id OFFSET (g % 9) LIMIT 1) c ON true;

-- orders: more recent than not, spread over the last two years up to today
INSERT INTO orders (id, customer_id, status, created_at)
SELECT g,
       1 + floor(random() * greatest(50, :scale / 5))::int,
       'pending',
       :'today'::timestamptz + interval '8 hours' - interval '730 days' * power(random(), 1.3)
FROM generate_series(1, :scale) g;

UPDATE orders SET status = CASE
    WHEN created_at > :'today'::date - 2 THEN (ARRAY['pending','paid'])[1 + floor(random() * 2)::int]
    WHEN created_at > :'today'::date - 7 THEN (ARRAY['paid','shipped','shipped','cancelled'])[1 + floor(random() * 4)::int]
    ELSE (ARRAY['delivered','delivered','delivered','delivered','delivered','delivered','cancelled','refunded'])[1 + floor(random() * 8)::int]
  END::order_status;

INSERT INTO order_items
SELECT o.id, l.line, p.id, 1 + floor(random() * random() * 5)::int, p.price
FROM orders o
CROSS JOIN LATERAL generate_series(1, 1 + (o.id % 4)::int) AS l(line)
JOIN products p ON p.id = 1 + ((o.id * 7919 + l.line * 104729) % 500);

UPDATE orders o SET total = s.total
FROM (SELECT order_id, sum(quantity * unit_price) AS total FROM order_items GROUP BY order_id) s
WHERE s.order_id = o.id;

INSERT INTO payments
SELECT o.id, o.id,
       (ARRAY['card','card','card','paypal','paypal','bank_transfer','voucher'])[1 + floor(random() * 7)::int],
       o.total,
       o.created_at + random() * interval '2 hours'
FROM orders o WHERE o.status <> 'pending';

INSERT INTO shipments
SELECT o.id, o.id,
       (ARRAY['DHL','UPS','DPD','PostNL','GLS'])[1 + floor(random() * 5)::int],
       o.created_at + interval '1 day' + random() * interval '2 days',
       CASE WHEN o.status IN ('delivered', 'refunded')
            THEN o.created_at + interval '3 days' + random() * interval '4 days' END
FROM orders o WHERE o.status IN ('shipped', 'delivered', 'refunded');

CREATE INDEX orders_customer_id ON orders (customer_id);
CREATE INDEX order_items_product_id ON order_items (product_id);
CREATE INDEX payments_order_id ON payments (order_id);
CREATE INDEX shipments_order_id ON shipments (order_id);
CREATE INDEX customers_region_id ON customers (region_id);
CREATE INDEX products_category_id ON products (category_id);
-- orders(created_at) is left out on purpose: "create an index on orders(created_at)" is the DBA tour.

ANALYZE;
