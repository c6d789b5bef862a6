-- OrderPaid v2 records how an order was paid (v1 payments read as 'unspecified').
alter table orders add column payment_method text;
