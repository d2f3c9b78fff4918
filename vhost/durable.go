package vhost

import "github.com/warrenmq/warren/amqp/wire"

// The durability seam. Every creation and deletion of an exchange, queue or binding passes
// through exactly one of these three functions, with VHost.mu held for writing, so that the
// durability issue can persist durable entities (and bindings between durable ends, as
// rabbit_binding:binding_type/2 does) in one place. In memory they do nothing.
//
// TODO(durability issue): write through package store; no lock may be held across Badger
// I/O, so queue the write here and commit it after VHost.mu is released.

// durableAddedLocked is called after x (*Exchange) or q (*Queue) was created.
func (v *VHost) durableAddedLocked(entity any) {}

// durableRemovedLocked is called after an exchange or queue was deleted.
func (v *VHost) durableRemovedLocked(entity any) {}

// durableBindingLocked is called after a binding was added (added=true) or removed.
// Bindings removed because their source or destination was deleted are not reported one
// by one: deleting the entity implies them.
func (v *VHost) durableBindingLocked(src *Exchange, d dest, key string, args wire.Table, added bool) {
}
