// Integration tests each start a whole distributed app; on a 2-core machine running them in parallel only
// makes every one of them slower and flakier.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
