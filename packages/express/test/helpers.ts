// the helpers every adapter's tests use
export * from '../../../test/support/adapter-tests';
