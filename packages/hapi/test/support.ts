// the helpers both plugin adapters' tests use
export * from '../../../test/support/adapter-tests';
